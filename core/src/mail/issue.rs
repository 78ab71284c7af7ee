//! Newsletter issues sent through the queue: the issue as the newsletter-export plugin built it,
//! one personalised mail per recipient, and the per-issue ledger that makes a second run (after
//! a crash, or to reach people who confirmed since) queue only those not queued before.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    MailError, MailKind, MailRecord, MailResult, MailState, Outgoing, new_mail, parse, queue_writes,
};
use crate::ContentService;
use crate::newsletter::{self, Purpose, SUBSCRIBER};
use crate::plugin::Artifact;
use crate::store::{Expect, Store, StoreError, Tree, WriteBatch, prefix_end};

/// The placeholder the plugin puts where each recipient's unsubscribe link goes.
pub const UNSUBSCRIBE_PLACEHOLDER: &str = "{{unsubscribe_url}}";
/// Mails queued per commit.
const BATCH: usize = 500;

/// One issue as stored: what every recipient's mail is made of.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssueRecord {
    pub id: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub locale: String,
    pub since: String,
    pub until: String,
    pub topics: Vec<String>,
    pub items: u64,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

impl IssueRecord {
    /// Its status with no mails counted yet.
    fn status(&self) -> IssueStatus {
        IssueStatus {
            id: self.id.clone(),
            subject: self.subject.clone(),
            locale: self.locale.clone(),
            since: self.since.clone(),
            until: self.until.clone(),
            topics: self.topics.clone(),
            items: self.items,
            ..IssueStatus::default()
        }
    }
}

pub(crate) fn ledger_key(issue: &str, to: &str) -> Vec<u8> {
    format!("l\0{issue}\0{to}").into_bytes()
}

fn ledger_prefix(issue: &str) -> Vec<u8> {
    format!("l\0{issue}\0").into_bytes()
}

fn issue_key(id: &str) -> Vec<u8> {
    format!("i\0{id}").into_bytes()
}

/// An issue, if it was sent (or started) before.
pub fn get(store: &dyn Store, id: &str) -> Result<Option<IssueRecord>, StoreError> {
    Ok(store
        .get(Tree::Mail, &issue_key(id))?
        .and_then(|b| serde_json::from_slice(&b).ok()))
}

/// The id of the issue for a period, language and topics: the same command names the same
/// issue, so running it again resumes instead of starting over.
pub fn issue_id(since: &str, until: &str, locale: &str, topics: &[String]) -> String {
    let mut id = format!("{since}_{until}_{locale}");
    if !topics.is_empty() {
        id.push('_');
        id.push_str(&topics.join("+"));
    }
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || "_+-.".contains(*c))
        .collect()
}

/// One recipient from the plugin's list.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub email: String,
    pub name: Option<String>,
    pub subscriber: String,
    pub token: String,
}

/// The issue as the export plugin built it.
#[derive(Debug, Clone)]
pub struct Built {
    pub subject: String,
    pub text: String,
    pub html: String,
    pub since: String,
    pub until: String,
    pub items: u64,
    pub recipients: Vec<Recipient>,
}

fn artifact<'a>(arts: &'a [Artifact], name: &str) -> Result<&'a [u8], String> {
    arts.iter()
        .find(|a| a.name == name)
        .map(|a| a.bytes.as_slice())
        .ok_or_else(|| {
            format!("the export plugin delivered no {name}; use the newsletter-export plugin (or one with the same artifacts)")
        })
}

/// Splits CSV text (RFC 4180: quoted fields, doubled quotes) into records.
fn csv_records(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    records
}

/// Reads the plugin's artifacts: subject (from `sample.eml`), text, HTML, the recipients
/// (`recipients.csv`; each link's token names the subscriber and is checked here).
pub fn from_artifacts(content: &ContentService, arts: &[Artifact]) -> Result<Built, String> {
    let text = String::from_utf8_lossy(artifact(arts, "newsletter.txt")?).into_owned();
    let html = String::from_utf8_lossy(artifact(arts, "newsletter.html")?).into_owned();
    let sample = artifact(arts, "sample.eml")?;
    let subject = mail_parser::MessageParser::default()
        .parse(sample)
        .and_then(|m| m.subject().map(str::to_string))
        .ok_or("the export plugin's sample.eml has no subject")?;
    let summary: Value = serde_json::from_slice(artifact(arts, "summary.json")?)
        .map_err(|e| format!("the export plugin's summary.json is not JSON: {e}"))?;
    let csv = String::from_utf8_lossy(artifact(arts, "recipients.csv")?).into_owned();
    let mut recipients = Vec::new();
    for (i, rec) in csv_records(&csv).into_iter().enumerate().skip(1) {
        let [email, name, url] = rec.as_slice() else {
            return Err(format!(
                "recipients.csv line {}: expected email,name,unsubscribe_url",
                i + 1
            ));
        };
        let token = url
            .split_once("token=")
            .map(|(_, t)| t.split('&').next().unwrap_or(""))
            .unwrap_or("");
        let subscriber = newsletter::verify(content, token, Purpose::Unsubscribe).map_err(|e| {
            format!(
                "recipients.csv line {}: the unsubscribe link does not verify ({e})",
                i + 1
            )
        })?;
        recipients.push(Recipient {
            email: newsletter::normalise(email),
            name: (!name.trim().is_empty()).then(|| name.trim().to_string()),
            subscriber,
            token: token.to_string(),
        });
    }
    Ok(Built {
        subject,
        text,
        html,
        since: summary["since"].as_str().unwrap_or("").to_string(),
        until: summary["until"].as_str().unwrap_or("").to_string(),
        items: summary["items"].as_u64().unwrap_or(0),
        recipients,
    })
}

/// Where an issue stands.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct IssueStatus {
    /// The issue's id: period, language and topics (the same command names the same issue).
    pub id: String,
    pub subject: String,
    pub locale: String,
    pub since: String,
    pub until: String,
    pub topics: Vec<String>,
    /// Stories and events in it.
    pub items: u64,
    /// Confirmed recipients now (the plugin's list).
    pub recipients: u64,
    /// Recipients queued by this request (0 for a dry run and for an issue sent completely).
    pub newly_queued: u64,
    /// Recipients a (dry) run would queue now.
    pub to_queue: u64,
    /// Mails of the issue by state.
    pub queued: u64,
    pub sending: u64,
    pub sent: u64,
    pub failed: u64,
    pub unknown: u64,
    pub skipped: u64,
    /// Of the queued: those waiting for a retry after a temporary failure.
    pub retrying: u64,
    /// When it was first sent; absent for a dry run of a new issue.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
}

impl IssueStatus {
    /// Whether nothing of it waits to be sent.
    pub fn finished(&self) -> bool {
        self.queued + self.sending == 0
    }
}

/// The mails of an issue so far, by their ledger.
fn ledger(store: &dyn Store, issue: &str) -> MailResult<Vec<(String, String)>> {
    let prefix = ledger_prefix(issue);
    Ok(store
        .scan_range(Tree::Mail, &prefix, &prefix_end(&prefix), false, usize::MAX)?
        .into_iter()
        .map(|(k, v)| {
            (
                String::from_utf8_lossy(&k[prefix.len()..]).into_owned(),
                String::from_utf8_lossy(&v).into_owned(),
            )
        })
        .collect())
}

/// The state of issue `id` (404 when it was never sent).
pub fn status(store: &dyn Store, id: &str) -> MailResult<IssueStatus> {
    let issue = get(store, id)?
        .ok_or_else(|| MailError::NotFound(format!("issue {id} (it was never sent)")))?;
    let mut st = issue.status();
    st.created_at = Some(issue.created_at);
    count_into(store, id, &mut st)?;
    st.recipients = st.queued + st.sending + st.sent + st.failed + st.unknown + st.skipped;
    Ok(st)
}

fn count_into(store: &dyn Store, id: &str, st: &mut IssueStatus) -> MailResult<()> {
    let ids: Vec<Vec<u8>> = ledger(store, id)?
        .into_iter()
        .map(|(_, m)| super::mail_key(&m))
        .collect();
    for chunk in ids.chunks(1000) {
        for v in store.get_many(Tree::Mail, chunk)?.into_iter().flatten() {
            let r = parse(&v)?;
            if r.state == MailState::Queued && r.attempts > 0 {
                st.retrying += 1;
            }
            *match r.state {
                MailState::Queued => &mut st.queued,
                MailState::Sending => &mut st.sending,
                MailState::Sent => &mut st.sent,
                MailState::Failed => &mut st.failed,
                MailState::Unknown => &mut st.unknown,
                MailState::Skipped => &mut st.skipped,
            } += 1;
        }
    }
    Ok(())
}

/// What an issue request asks for.
pub struct Plan<'a> {
    pub id: &'a str,
    pub locale: &'a str,
    pub topics: &'a [String],
    pub built: Built,
    pub public_url: &'a str,
    pub actor: &'a str,
    pub dry_run: bool,
}

/// Queues the issue for every recipient its ledger does not have yet (or, for a dry run,
/// only counts them). The issue's text is stored on the first run and kept: a resumed run
/// sends what the first one sent.
pub fn send(content: &ContentService, plan: Plan<'_>) -> MailResult<IssueStatus> {
    let store = content.store().as_ref();
    let existing = get(store, plan.id)?;
    let issue = existing.clone().unwrap_or_else(|| IssueRecord {
        id: plan.id.to_string(),
        subject: plan.built.subject.clone(),
        text: plan.built.text.clone(),
        html: plan.built.html.clone(),
        locale: plan.locale.to_string(),
        since: plan.built.since.clone(),
        until: plan.built.until.clone(),
        topics: plan.topics.to_vec(),
        items: plan.built.items,
        created_at: Utc::now(),
        created_by: plan.actor.to_string(),
    });
    let known: std::collections::HashSet<String> = ledger(store, plan.id)?
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    let mut seen = std::collections::HashSet::new();
    let todo: Vec<&Recipient> = plan
        .built
        .recipients
        .iter()
        .filter(|r| !known.contains(&r.email) && seen.insert(r.email.clone()))
        .collect();
    let mut st = IssueStatus {
        recipients: plan.built.recipients.len() as u64,
        to_queue: todo.len() as u64,
        created_at: existing.as_ref().map(|i| i.created_at),
        ..issue.status()
    };
    if plan.dry_run {
        if existing.is_some() {
            count_into(store, plan.id, &mut st)?;
        }
        return Ok(st);
    }
    if existing.is_none() {
        let mut b = WriteBatch::new();
        b.check(Tree::Mail, issue_key(plan.id), Expect::Absent);
        b.put(
            Tree::Mail,
            issue_key(plan.id),
            serde_json::to_vec(&issue).unwrap_or_default(),
        );
        match store.commit(b) {
            Ok(_) | Err(StoreError::CheckFailed { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let mut a = crate::auth::AuditRecord::draft(plan.actor, "newsletter.send");
        a.id = Some(plan.id.to_string());
        a.detail = Some(format!(
            "issue {:?} to {} recipients",
            issue.subject,
            plan.built.recipients.len()
        ));
        if let Err(e) = content.auth().audit(a) {
            tracing::warn!("could not record the newsletter issue in the audit log: {e}");
        }
    }
    let base = plan.public_url.trim_end_matches('/');
    for chunk in todo.chunks(BATCH) {
        let mut b = WriteBatch::new();
        for r in chunk {
            let mut m: MailRecord = new_mail(MailKind::Issue, &r.email, &issue.subject);
            m.name = r.name.clone();
            m.issue = Some(plan.id.to_string());
            m.subscriber = Some(r.subscriber.clone());
            m.unsubscribe_url = Some(format!(
                "{base}/api/v1/newsletter/unsubscribe?token={}",
                r.token
            ));
            // The ledger key is checked absent: a concurrent run of the same issue cannot
            // queue an address twice (its commit fails and the address is left to the first).
            b.check(Tree::Mail, ledger_key(plan.id, &m.to), Expect::Absent);
            b.put(
                Tree::Mail,
                ledger_key(plan.id, &m.to),
                m.id.clone().into_bytes(),
            );
            for (t, k, v) in queue_writes(&m) {
                b.put(t, k, v);
            }
        }
        match store.commit(b) {
            Ok(_) => st.newly_queued += chunk.len() as u64,
            Err(StoreError::CheckFailed { .. }) => {
                return Err(MailError::Invalid(format!(
                    "issue {} is being queued by another request right now; wait for it and run the command again to see where it stands",
                    plan.id
                )));
            }
            Err(e) => return Err(e.into()),
        }
    }
    st.to_queue = 0;
    count_into(store, plan.id, &mut st)?;
    Ok(st)
}

/// Whether the subscriber of an issue's mail still wants it (confirmed, not unsubscribed,
/// still this address).
pub fn still_subscribed(content: &ContentService, rec: &MailRecord) -> bool {
    let Some(id) = &rec.subscriber else {
        return false;
    };
    let Ok(s) = content.get(SUBSCRIBER, id) else {
        return false;
    };
    let confirmed = s
        .data
        .get("consent")
        .and_then(|c| c.get("confirmed_at"))
        .is_some();
    let same = s
        .data
        .get("email")
        .and_then(Value::as_str)
        .is_some_and(|e| newsletter::normalise(e) == rec.to);
    confirmed && same && !s.data.contains_key("unsubscribed_at")
}

/// An ASCII phrase for `List-Id` from the sender's name.
fn ascii_phrase(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        match c {
            'ä' => out.push_str("ae"),
            'ö' => out.push_str("oe"),
            'ü' => out.push_str("ue"),
            'Ä' => out.push_str("Ae"),
            'Ö' => out.push_str("Oe"),
            'Ü' => out.push_str("Ue"),
            'ß' => out.push_str("ss"),
            c if c.is_ascii_alphanumeric() || " -.,".contains(c) => out.push(c),
            _ => {}
        }
    }
    out.trim().to_string()
}

/// The complete message of a mail (MIME by `mail-builder`): the issue's text and HTML with the
/// recipient's own unsubscribe link, RFC 8058 headers, `List-Id`, `Message-ID`, `Date`.
pub fn compose(
    out: &Outgoing,
    rec: &MailRecord,
    issue: Option<&IssueRecord>,
) -> Result<Vec<u8>, String> {
    use mail_builder::headers::address::Address;
    use mail_builder::headers::raw::Raw;
    let (from_name, from_addr) = newsletter::split_mailbox(&out.options.from);
    let domain = from_addr.rsplit_once('@').map_or("localhost", |(_, d)| d);
    let to = match &rec.name {
        Some(n) => Address::new_address(Some(n.as_str()), rec.to.as_str()),
        None => Address::new_address(None::<&str>, rec.to.as_str()),
    };
    let mut m = mail_builder::MessageBuilder::new()
        .from(Address::new_address(from_name, from_addr))
        .to(to)
        .subject(rec.subject.as_str())
        .date(Utc::now().timestamp())
        .message_id(format!("{}@{domain}", rec.id.to_lowercase()));
    match rec.kind {
        MailKind::Issue => {
            let issue = issue.ok_or("the issue of this mail is gone")?;
            let url = rec
                .unsubscribe_url
                .as_deref()
                .ok_or("this newsletter mail has no unsubscribe link")?;
            let phrase = ascii_phrase(from_name.unwrap_or("Newsletter"));
            m = m
                .header(
                    "List-Id",
                    Raw::new(format!("\"{phrase}\" <newsletter.{domain}>")),
                )
                .header("List-Unsubscribe", Raw::new(format!("<{url}>")))
                .header(
                    "List-Unsubscribe-Post",
                    Raw::new("List-Unsubscribe=One-Click"),
                )
                .header("Precedence", Raw::new("bulk"))
                .text_body(issue.text.replace(UNSUBSCRIBE_PLACEHOLDER, url))
                .html_body(
                    issue
                        .html
                        .replace(UNSUBSCRIBE_PLACEHOLDER, &url.replace('&', "&amp;")),
                );
        }
        _ => {
            m = m
                .header("Auto-Submitted", Raw::new("auto-generated"))
                .text_body(rec.body.clone().unwrap_or_default());
        }
    }
    m.write_to_vec().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_quotes_commas_and_line_ends() {
        let r = csv_records(
            "email,name,unsubscribe_url\r\na@x.de,\"Müller, Anna \"\"AM\"\"\",https://x/?token=1\r\nb@x.de,,https://x/?token=2\r\n",
        );
        assert_eq!(r.len(), 3);
        assert_eq!(
            r[1],
            ["a@x.de", "Müller, Anna \"AM\"", "https://x/?token=1"]
        );
        assert_eq!(r[2], ["b@x.de", "", "https://x/?token=2"]);
    }

    #[test]
    fn issue_ids_are_stable_and_path_safe() {
        assert_eq!(
            issue_id(
                "2026-11-01",
                "2026-11-30",
                "de",
                &["cloud".into(), "it-sicherheit".into()]
            ),
            "2026-11-01_2026-11-30_de_cloud+it-sicherheit"
        );
        assert_eq!(
            issue_id("2026-11-01", "2026-11-30", "en", &[]),
            "2026-11-01_2026-11-30_en"
        );
    }

    #[test]
    fn list_id_phrase_is_ascii() {
        assert_eq!(
            ascii_phrase("Cluster IT Mitteldeutschland – Büro"),
            "Cluster IT Mitteldeutschland  Buero"
        );
    }
}
