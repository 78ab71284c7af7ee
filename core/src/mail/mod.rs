//! The mail queue: every mail Verbund sends (sign-up confirmations, notes, newsletter issues,
//! test mails) is a record in the store, written in the commit of what caused it, and sent by
//! one node at a time over SMTP (or written to an outbox directory).
//!
//! **Durable and never twice after a success.** A sign-up writes its confirmation mail in the
//! commit that stores the subscriber, so there is no sign-up without its mail and no mail of a
//! rolled-back sign-up. The sender (the `mail` lease on a shared store; the one process on
//! sled) *claims* a due mail in a commit (off the due queue, into the in-flight set), sends it,
//! and records the result in another commit: sent (never sent again), a temporary failure (4xx
//! replies, connection errors: back on the queue after the back-off of [`MailOptions::retries`]),
//! or a permanent failure (5xx: recorded with the server's reply and shown in
//! `verbund mail queue`).
//!
//! **A crash during a send.** A mail in flight when its sender died has an unknown fate: the
//! server may have accepted it. Mails of the sign-up flow and test mails are sent again (a
//! second confirmation mail is harmless); a newsletter issue's mail is marked `unknown` and
//! not sent again automatically (no recipient gets an issue twice); `verbund mail queue
//! --state unknown` lists them and `verbund mail retry ID` sends one again.
//!
//! **Newsletter issues** ([`issue`]): one record per issue (its subject, text and HTML as the
//! newsletter-export plugin built them) and a ledger per issue, one key per address, written in
//! the commit that queues that address's mail: running `verbund newsletter send` again after a
//! crash queues only the addresses the ledger does not have.
//!
//! Store layout (`Tree::Mail`):
//! - `m\0{id}` → [`MailRecord`] (ids are ULIDs, time-ordered)
//! - `q\0{due ms:be8}{id}` → empty: the due queue
//! - `s\0{id}` → the node sending it: in flight
//! - `a\0{address}\0{id}` → empty: mails by recipient (GDPR export and erasure)
//! - `l\0{issue}\0{address}` → mail id: the ledger of an issue
//! - `i\0{issue}` → [`issue::IssueRecord`]

pub mod issue;
mod sender;
mod transport;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::store::{Expect, Store, StoreError, Tree, WriteBatch, prefix_end};

pub use sender::{Sender, run as run_sender};
pub use transport::{SmtpConfig, TlsMode};

/// How mails leave this server.
#[derive(Debug, Clone)]
pub struct MailOptions {
    /// The SMTP server; none: mails are written to the outbox directory as `.eml` files.
    pub smtp: Option<SmtpConfig>,
    /// The sender, `Name <address>`.
    pub from: String,
    /// The most mails sent per minute (0: no limit).
    pub rate_per_minute: u32,
    /// SMTP connections used at once.
    pub connections: usize,
    /// The waits before the 2nd, 3rd, … attempt after a temporary failure; after the last the
    /// mail is recorded as failed.
    pub retries: Vec<Duration>,
}

/// The default retry schedule: 1 min, 5 min, 30 min, 2 h, 6 h, 24 h.
pub const DEFAULT_RETRIES: [u64; 6] = [60, 300, 1800, 7200, 21600, 86400];

impl Default for MailOptions {
    fn default() -> Self {
        Self {
            smtp: None,
            from: "Newsletter <newsletter@localhost>".into(),
            rate_per_minute: 0,
            connections: 4,
            retries: DEFAULT_RETRIES
                .iter()
                .map(|s| Duration::from_secs(*s))
                .collect(),
        }
    }
}

/// What a mail is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MailKind {
    /// A newsletter sign-up's confirmation link.
    Confirm,
    /// A note to an address that is subscribed already.
    Note,
    /// One recipient's copy of a newsletter issue.
    Issue,
    /// `verbund mail test`.
    Test,
    /// A note to a reviewer that an entry waits for them.
    Review,
}

impl MailKind {
    /// Whether a mail whose send was cut off by a crash is sent again (else: `unknown`).
    fn resend_when_unsure(self) -> bool {
        !matches!(self, MailKind::Issue)
    }
}

/// Where a mail stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MailState {
    /// Waiting for its (next) attempt.
    Queued,
    /// Being sent now.
    Sending,
    /// Accepted by the SMTP server (or written to the outbox).
    Sent,
    /// Refused for good (a 5xx reply, or temporary failures until the retries ran out).
    Failed,
    /// The sender stopped while sending it: it may or may not have arrived.
    Unknown,
    /// Not sent: the recipient unsubscribed or was erased before its turn.
    Skipped,
}

impl MailState {
    pub const ALL: [MailState; 6] = [
        MailState::Queued,
        MailState::Sending,
        MailState::Sent,
        MailState::Failed,
        MailState::Unknown,
        MailState::Skipped,
    ];

    pub fn name(self) -> &'static str {
        match self {
            MailState::Queued => "queued",
            MailState::Sending => "sending",
            MailState::Sent => "sent",
            MailState::Failed => "failed",
            MailState::Unknown => "unknown",
            MailState::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<MailState> {
        MailState::ALL.into_iter().find(|m| m.name() == s)
    }
}

/// One mail as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MailRecord {
    pub id: String,
    pub kind: MailKind,
    /// The recipient's address, normalised.
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub subject: String,
    /// The text of a mail that is not an issue (an issue's text is in its issue record).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issue: Option<String>,
    /// The subscriber it goes to (checked again before an issue's mail is sent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscriber: Option<String>,
    /// The recipient's one-click unsubscribe link (issues).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsubscribe_url: Option<String>,
    pub state: MailState,
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<DateTime<Utc>>,
    /// The SMTP server's last reply (or the error), e.g. `550 5.1.1 mailbox unavailable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reply: Option<String>,
}

/// A mail as admins see it: without its text and links (a confirmation link in the wrong
/// hands confirms someone else's subscription).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct MailInfo {
    /// The mail's id (a ULID).
    pub id: String,
    pub kind: MailKind,
    /// The recipient's address.
    pub to: String,
    pub subject: String,
    /// The newsletter issue it belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub issue: Option<String>,
    pub state: MailState,
    /// Attempts made so far.
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    /// When the next attempt is due (queued mails).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<DateTime<Utc>>,
    /// The SMTP server's last reply or the error of the last attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_reply: Option<String>,
}

impl MailRecord {
    pub fn info(&self) -> MailInfo {
        MailInfo {
            id: self.id.clone(),
            kind: self.kind,
            to: self.to.clone(),
            subject: self.subject.clone(),
            issue: self.issue.clone(),
            state: self.state,
            attempts: self.attempts,
            created_at: self.created_at,
            next_attempt_at: self.next_attempt_at,
            sent_at: self.sent_at,
            last_reply: self.last_reply.clone(),
        }
    }

    fn bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

/// Errors of the mail queue.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no mail {0}; see `verbund mail queue` for the ids")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("mail {id} is {state}; only failed or unknown mails can be sent again")]
    NotRetryable { id: String, state: &'static str },
    #[error("a stored mail record is unreadable: {0}")]
    Corrupt(String),
}

pub type MailResult<T> = Result<T, MailError>;

pub(crate) fn mail_key(id: &str) -> Vec<u8> {
    format!("m\0{id}").into_bytes()
}

pub(crate) fn queue_key(due_ms: i64, id: &str) -> Vec<u8> {
    let mut k = b"q\0".to_vec();
    k.extend_from_slice(&(due_ms.max(0) as u64).to_be_bytes());
    k.extend_from_slice(id.as_bytes());
    k
}

pub(crate) fn flight_key(id: &str) -> Vec<u8> {
    format!("s\0{id}").into_bytes()
}

fn address_key(to: &str, id: &str) -> Vec<u8> {
    format!("a\0{to}\0{id}").into_bytes()
}

fn address_prefix(to: &str) -> Vec<u8> {
    format!("a\0{to}\0").into_bytes()
}

/// A new mail record, queued now.
pub fn new_mail(kind: MailKind, to: &str, subject: &str) -> MailRecord {
    MailRecord {
        id: ulid::Ulid::new().to_string(),
        kind,
        to: crate::newsletter::normalise(to),
        name: None,
        subject: subject.to_string(),
        body: None,
        issue: None,
        subscriber: None,
        unsubscribe_url: None,
        state: MailState::Queued,
        attempts: 0,
        created_at: Utc::now(),
        next_attempt_at: None,
        sent_at: None,
        last_reply: None,
    }
}

/// The writes that queue `mail` (due now): for the commit of whatever caused it.
pub fn queue_writes(mail: &MailRecord) -> Vec<(Tree, Vec<u8>, Vec<u8>)> {
    vec![
        (Tree::Mail, mail_key(&mail.id), mail.bytes()),
        (
            Tree::Mail,
            queue_key(mail.created_at.timestamp_millis(), &mail.id),
            Vec::new(),
        ),
        (Tree::Mail, address_key(&mail.to, &mail.id), Vec::new()),
    ]
}

/// Queues `mail` in a commit of its own.
pub fn queue(store: &dyn Store, mail: &MailRecord) -> MailResult<()> {
    let mut b = WriteBatch::new();
    for (t, k, v) in queue_writes(mail) {
        b.put(t, k, v);
    }
    store.commit(b)?;
    Ok(())
}

fn parse(bytes: &[u8]) -> MailResult<MailRecord> {
    serde_json::from_slice(bytes).map_err(|e| MailError::Corrupt(e.to_string()))
}

/// One mail.
pub fn get(store: &dyn Store, id: &str) -> MailResult<MailRecord> {
    match store.get(Tree::Mail, &mail_key(id))? {
        Some(b) => parse(&b),
        None => Err(MailError::NotFound(id.to_string())),
    }
}

/// Mails newest first, optionally of one state and/or issue, at most `limit`, before the mail
/// `before` (an id: the cursor).
pub fn list(
    store: &dyn Store,
    state: Option<MailState>,
    issue: Option<&str>,
    before: Option<&str>,
    limit: usize,
) -> MailResult<Vec<MailRecord>> {
    let start = b"m\0".to_vec();
    let end = match before {
        Some(id) => mail_key(id),
        None => prefix_end(b"m\0"),
    };
    let mut out = Vec::new();
    let mut err = None;
    store.visit_range(Tree::Mail, &start, &end, true, &mut |_, v| {
        match parse(v) {
            Ok(r) => {
                if state.is_none_or(|s| r.state == s)
                    && issue.is_none_or(|i| r.issue.as_deref() == Some(i))
                {
                    out.push(r);
                }
            }
            Err(e) => {
                err = Some(e);
                return false;
            }
        }
        out.len() < limit
    })?;
    match err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// Counts of the mails by state (the whole queue).
pub fn counts(store: &dyn Store) -> MailResult<Vec<(MailState, u64)>> {
    let mut n = [0u64; 6];
    store.visit_range(
        Tree::Mail,
        b"m\0",
        &prefix_end(b"m\0"),
        false,
        &mut |_, v| {
            if let Ok(r) = parse(v) {
                n[MailState::ALL
                    .iter()
                    .position(|s| *s == r.state)
                    .unwrap_or(0)] += 1;
            }
            true
        },
    )?;
    Ok(MailState::ALL.into_iter().zip(n).collect())
}

/// Sends a failed or unknown mail again (an admin's decision): queued now, attempts kept.
pub fn retry(store: &dyn Store, id: &str) -> MailResult<MailRecord> {
    for _ in 0..16 {
        let old = store
            .get(Tree::Mail, &mail_key(id))?
            .ok_or_else(|| MailError::NotFound(id.to_string()))?;
        let mut rec = parse(&old)?;
        if !matches!(rec.state, MailState::Failed | MailState::Unknown) {
            return Err(MailError::NotRetryable {
                id: id.to_string(),
                state: rec.state.name(),
            });
        }
        let now = Utc::now();
        rec.state = MailState::Queued;
        rec.next_attempt_at = Some(now);
        let mut b = WriteBatch::new();
        b.check(Tree::Mail, mail_key(id), Expect::Equals(old));
        b.put(Tree::Mail, mail_key(id), rec.bytes());
        b.put(
            Tree::Mail,
            queue_key(now.timestamp_millis(), id),
            Vec::new(),
        );
        match store.commit(b) {
            Ok(_) => return Ok(rec),
            Err(StoreError::CheckFailed { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(MailError::Invalid(format!(
        "mail {id} kept changing while it was queued again; try again"
    )))
}

/// The mails to an address (GDPR export), oldest first.
pub fn of_address(store: &dyn Store, email: &str) -> MailResult<Vec<MailRecord>> {
    let to = crate::newsletter::normalise(email);
    let prefix = address_prefix(&to);
    let keys = store.scan_range_keys(Tree::Mail, &prefix, &prefix_end(&prefix), usize::MAX)?;
    let ids: Vec<Vec<u8>> = keys
        .iter()
        .map(|k| mail_key(&String::from_utf8_lossy(&k[prefix.len()..])))
        .collect();
    let mut out = Vec::new();
    for v in store.get_many(Tree::Mail, &ids)?.into_iter().flatten() {
        out.push(parse(&v)?);
    }
    Ok(out)
}

/// Removes every mail to an address, queued or sent, with its ledger entries (GDPR erasure).
/// Returns how many.
pub fn erase_address(store: &dyn Store, email: &str) -> MailResult<usize> {
    let mails = of_address(store, email)?;
    let mut b = WriteBatch::new();
    for m in &mails {
        b.remove(Tree::Mail, mail_key(&m.id));
        b.remove(Tree::Mail, address_key(&m.to, &m.id));
        b.remove(Tree::Mail, flight_key(&m.id));
        if let Some(due) = m.next_attempt_at.or(Some(m.created_at)) {
            b.remove(Tree::Mail, queue_key(due.timestamp_millis(), &m.id));
        }
        if let Some(issue) = &m.issue {
            b.remove(Tree::Mail, issue::ledger_key(issue, &m.to));
        }
    }
    if !mails.is_empty() {
        store.commit(b)?;
    }
    Ok(mails.len())
}

/// The mail side of a server: settings, and the bell that wakes the sender.
#[derive(Debug)]
pub struct Outgoing {
    pub options: MailOptions,
    /// Where mails go when there is no SMTP server.
    pub outbox: PathBuf,
    pub wake: tokio::sync::Notify,
}

impl Outgoing {
    pub fn new(options: MailOptions, outbox: PathBuf) -> Arc<Self> {
        Arc::new(Self {
            options,
            outbox,
            wake: tokio::sync::Notify::new(),
        })
    }

    /// Where mails go, for people: `smtp://…` (no password) or the outbox directory.
    pub fn describe(&self) -> String {
        match &self.options.smtp {
            Some(s) => s.display(),
            None => format!("outbox directory {}", self.outbox.display()),
        }
    }
}
