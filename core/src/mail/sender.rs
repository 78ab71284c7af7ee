//! The sender: takes due mails off the queue and sends them, one node at a time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;

use super::issue::{self, IssueRecord};
use super::transport::{Sent, Transport};
use super::{MailKind, MailRecord, MailState, Outgoing, flight_key, mail_key, parse, queue_key};
use crate::ContentService;
use crate::store::{Expect, StoreError, Tree, WriteBatch};

/// Due mails picked per look at the queue.
const PICK: usize = 256;
/// How often recording the results of a group is tried (a second apart).
const RECORD_TRIES: u32 = 30;
/// How often the queue is looked at when nothing rang.
const POLL: Duration = Duration::from_millis(500);

/// Sends the mail queue; one per server.
pub struct Sender {
    content: Arc<ContentService>,
    out: Arc<Outgoing>,
    transport: Transport,
    node: String,
    /// Issues by id, read once.
    issues: Mutex<HashMap<String, Arc<IssueRecord>>>,
    /// The earliest time the next mail may start (the per-minute rate).
    next_slot: tokio::sync::Mutex<Instant>,
}

impl Sender {
    pub fn new(
        content: Arc<ContentService>,
        out: Arc<Outgoing>,
        node: &str,
    ) -> Result<Self, String> {
        let transport = Transport::new(
            out.options.smtp.as_ref(),
            &out.outbox,
            out.options.connections,
            &out.options.from,
        )?;
        Ok(Self {
            content,
            out,
            transport,
            node: node.to_string(),
            issues: Mutex::new(HashMap::new()),
            next_slot: tokio::sync::Mutex::new(Instant::now()),
        })
    }

    /// Waits for this mail's turn under the per-minute rate.
    async fn pace(&self) {
        let rate = self.out.options.rate_per_minute;
        if rate == 0 {
            return;
        }
        let gap = Duration::from_secs(60) / rate;
        let start = {
            let mut next = self.next_slot.lock().await;
            let start = (*next).max(Instant::now());
            *next = start + gap;
            start
        };
        tokio::time::sleep_until(start.into()).await;
    }

    /// Mails left in flight by a sender that stopped: the sign-up flow's are queued again, an
    /// issue's are marked unknown (see the module notes). Returns how many.
    pub fn recover(&self) -> Result<usize, StoreError> {
        let store = self.content.store();
        let flights = store.scan_prefix(Tree::Mail, b"s\0", false, usize::MAX)?;
        let mut n = 0;
        for (k, holder) in flights {
            let id = String::from_utf8_lossy(&k[2..]).into_owned();
            let Some(old) = store.get(Tree::Mail, &mail_key(&id))? else {
                let mut b = WriteBatch::new();
                b.remove(Tree::Mail, k.clone());
                store.commit(b)?;
                continue;
            };
            let Ok(mut rec) = parse(&old) else { continue };
            let now = Utc::now();
            let mut b = WriteBatch::new();
            b.check(Tree::Mail, k.clone(), Expect::Equals(holder));
            b.remove(Tree::Mail, k.clone());
            if rec.kind.resend_when_unsure() {
                rec.state = MailState::Queued;
                rec.next_attempt_at = Some(now);
                b.put(
                    Tree::Mail,
                    queue_key(now.timestamp_millis(), &id),
                    Vec::new(),
                );
            } else {
                rec.state = MailState::Unknown;
                rec.last_reply = Some(
                    "the sender stopped while sending this mail: it may or may not have arrived; `verbund mail retry ID` sends it again".into(),
                );
            }
            b.put(Tree::Mail, mail_key(&id), rec.bytes());
            match store.commit(b) {
                Ok(_) => n += 1,
                Err(StoreError::CheckFailed { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }

    /// The due mails now: (queue key, id), oldest first.
    fn due(&self) -> Result<Vec<(Vec<u8>, String)>, StoreError> {
        let now = Utc::now().timestamp_millis();
        let end = queue_key(now + 1, "");
        let keys = self
            .content
            .store()
            .scan_range_keys(Tree::Mail, b"q\0", &end, PICK)?;
        Ok(keys
            .into_iter()
            .filter(|k| k.len() > 10)
            .map(|k| {
                let id = String::from_utf8_lossy(&k[10..]).into_owned();
                (k, id)
            })
            .collect())
    }

    /// Takes due mails off the queue into flight, in one commit. Those someone else took (or
    /// that are gone) are left out: on a failed check each is claimed on its own.
    fn claim(&self, due: &[(Vec<u8>, String)]) -> Result<Vec<MailRecord>, StoreError> {
        let store = self.content.store();
        let keys: Vec<Vec<u8>> = due.iter().map(|(_, id)| mail_key(id)).collect();
        let olds = store.get_many(Tree::Mail, &keys)?;
        let mut b = WriteBatch::new();
        let mut out = Vec::new();
        for ((qkey, id), old) in due.iter().zip(olds) {
            let Some(old) = old else {
                b.remove(Tree::Mail, qkey.clone());
                continue;
            };
            let Ok(mut rec) = parse(&old) else {
                tracing::error!(mail = %id, "an unreadable mail record was left on the queue");
                continue;
            };
            rec.state = MailState::Sending;
            rec.attempts += 1;
            b.check(Tree::Mail, qkey.clone(), Expect::Equals(Vec::new()));
            b.check(Tree::Mail, mail_key(id), Expect::Equals(old));
            b.remove(Tree::Mail, qkey.clone());
            b.put(Tree::Mail, flight_key(id), self.node.as_bytes().to_vec());
            b.put(Tree::Mail, mail_key(id), rec.bytes());
            out.push(rec);
        }
        if b.is_empty() {
            return Ok(out);
        }
        match store.commit(b) {
            Ok(_) => Ok(out),
            Err(StoreError::CheckFailed { .. }) if due.len() > 1 => {
                let mut one_by_one = Vec::new();
                for d in due {
                    one_by_one.extend(self.claim(std::slice::from_ref(d))?);
                }
                Ok(one_by_one)
            }
            Err(StoreError::CheckFailed { .. }) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Adds the writes recording an attempt's outcome to `b`.
    fn plan_record(&self, b: &mut WriteBatch, mut rec: MailRecord, outcome: &Outcome) {
        let now = Utc::now();
        b.check(
            Tree::Mail,
            flight_key(&rec.id),
            Expect::Equals(self.node.as_bytes().to_vec()),
        );
        b.remove(Tree::Mail, flight_key(&rec.id));
        match outcome {
            Outcome::Skipped => {
                rec.state = MailState::Skipped;
                rec.attempts = rec.attempts.saturating_sub(1);
                rec.last_reply = Some("not sent: the recipient is no longer subscribed".into());
            }
            Outcome::Sent(Sent::Accepted(reply)) => {
                rec.state = MailState::Sent;
                rec.sent_at = Some(now);
                rec.next_attempt_at = None;
                rec.last_reply = Some(reply.clone());
            }
            Outcome::Sent(Sent::Permanent(reply)) => {
                rec.state = MailState::Failed;
                rec.next_attempt_at = None;
                rec.last_reply = Some(reply.clone());
            }
            Outcome::Sent(Sent::Temporary(reply)) => {
                rec.last_reply = Some(reply.clone());
                let retries = &self.out.options.retries;
                match retries.get(rec.attempts.saturating_sub(1) as usize) {
                    Some(wait) => {
                        let due = now + chrono::Duration::from_std(*wait).unwrap_or_default();
                        rec.state = MailState::Queued;
                        rec.next_attempt_at = Some(due);
                        b.put(
                            Tree::Mail,
                            queue_key(due.timestamp_millis(), &rec.id),
                            Vec::new(),
                        );
                    }
                    None => {
                        rec.state = MailState::Failed;
                        rec.next_attempt_at = None;
                        rec.last_reply =
                            Some(format!("{reply} (gave up after {} attempts)", rec.attempts));
                    }
                }
            }
        }
        b.put(Tree::Mail, mail_key(&rec.id), rec.bytes());
    }

    /// Records the outcomes of attempts in one commit (only for mails this node still has in
    /// flight: on a failed check each is recorded on its own).
    fn record(&self, results: &[(MailRecord, Outcome)]) -> Result<(), StoreError> {
        let store = self.content.store();
        let mut b = WriteBatch::new();
        for (rec, outcome) in results {
            self.plan_record(&mut b, rec.clone(), outcome);
        }
        match store.commit(b) {
            Ok(_) => Ok(()),
            Err(StoreError::CheckFailed { .. }) if results.len() > 1 => {
                for r in results {
                    self.record(std::slice::from_ref(r))?;
                }
                Ok(())
            }
            Err(StoreError::CheckFailed { .. }) => {
                tracing::warn!("a mail's result came after another node took it over");
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    fn issue(&self, id: &str) -> Result<Option<Arc<IssueRecord>>, StoreError> {
        if let Some(i) = self
            .issues
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
        {
            return Ok(Some(i.clone()));
        }
        let Some(i) = issue::get(self.content.store().as_ref(), id)? else {
            return Ok(None);
        };
        let i = Arc::new(i);
        self.issues
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string(), i.clone());
        Ok(Some(i))
    }

    /// Claims a group of due mails and what sending them needs (an issue's mail to someone
    /// no longer subscribed is skipped).
    fn prepare(&self, due: &[(Vec<u8>, String)]) -> Result<Vec<Claimed>, StoreError> {
        let mut out = Vec::new();
        for rec in self.claim(due)? {
            let mut issue = None;
            let mut skip = false;
            if rec.kind == MailKind::Issue {
                skip = !issue::still_subscribed(&self.content, &rec);
                if let Some(i) = rec.issue.as_deref() {
                    issue = self.issue(i)?;
                }
            }
            out.push((rec, issue, skip));
        }
        Ok(out)
    }

    /// Sends one claimed mail.
    async fn send_one(&self, rec: &MailRecord, issue: Option<&IssueRecord>) -> Sent {
        let outcome = match issue::compose(&self.out, rec, issue) {
            Ok(message) => {
                let (_, from) = crate::newsletter::split_mailbox(&self.out.options.from);
                self.transport.send(from, &rec.to, &message, &rec.id).await
            }
            Err(e) => Sent::Permanent(e),
        };
        let kind = format!("{:?}", rec.kind).to_lowercase();
        let result = match &outcome {
            Sent::Accepted(_) => "sent",
            Sent::Temporary(_) => "temporary_failure",
            Sent::Permanent(_) => "failed",
        };
        metrics::counter!("verbund_mail_attempts_total", "kind" => kind, "result" => result)
            .increment(1);
        if let Sent::Temporary(r) | Sent::Permanent(r) = &outcome {
            tracing::warn!(mail = %rec.id, attempt = rec.attempts, "mail not delivered: {r}");
        }
        outcome
    }

    /// One group of due mails, one per connection: claimed in one commit (after waiting for
    /// their slots under the rate, so that a mail is in flight, of unknown fate after a crash,
    /// only for its SMTP conversation), sent at once, recorded in one commit.
    async fn group(self: &Arc<Self>, due: Vec<(Vec<u8>, String)>) -> Result<(), StoreError> {
        for _ in &due {
            self.pace().await;
        }
        let me = self.clone();
        let claimed = tokio::task::spawn_blocking(move || me.prepare(&due))
            .await
            .map_err(|e| StoreError::Engine(e.to_string()))??;
        let sends = claimed.iter().map(|(rec, issue, skip)| async move {
            if *skip {
                Outcome::Skipped
            } else {
                Outcome::Sent(self.send_one(rec, issue.as_deref()).await)
            }
        });
        let outcomes = futures_util::future::join_all(sends).await;
        let results: Vec<(MailRecord, Outcome)> = claimed
            .into_iter()
            .map(|(rec, _, _)| rec)
            .zip(outcomes)
            .collect();
        // The outcomes are known only here: a store that is briefly unavailable does not lose
        // them (they would turn into `unknown` mails), so recording is tried for a while.
        let results = Arc::new(results);
        let mut tries = 0;
        loop {
            let (me, r) = (self.clone(), results.clone());
            match tokio::task::spawn_blocking(move || me.record(&r))
                .await
                .map_err(|e| StoreError::Engine(e.to_string()))?
            {
                Ok(()) => return Ok(()),
                Err(e) if tries < RECORD_TRIES => {
                    tries += 1;
                    tracing::warn!(error = %e, "could not record mail results yet; trying again");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One look at the queue: sends what is due. Returns how many were due.
    pub async fn step(self: &Arc<Self>) -> Result<usize, StoreError> {
        let me = self.clone();
        let due = tokio::task::spawn_blocking(move || me.due())
            .await
            .map_err(|e| StoreError::Engine(e.to_string()))??;
        let n = due.len();
        for group in due.chunks(self.out.options.connections.max(1)) {
            self.group(group.to_vec()).await?;
        }
        Ok(n)
    }
}

/// A claimed mail, its issue, and whether it is skipped (the recipient unsubscribed).
type Claimed = (MailRecord, Option<Arc<IssueRecord>>, bool);

/// What became of a claimed mail.
enum Outcome {
    Sent(Sent),
    Skipped,
}

/// Sends the queue until the task is aborted: on a shared store only while this node holds
/// the `mail` lease.
pub async fn run(sender: Arc<Sender>, lease: Arc<Mutex<Option<crate::lease::Lease>>>) {
    let mut holding = false;
    loop {
        let (s, l) = (sender.clone(), lease.clone());
        let hold = tokio::task::spawn_blocking(move || {
            let mut l = l.lock().unwrap_or_else(|p| p.into_inner());
            match l.as_mut() {
                None => Ok(true),
                Some(l) => l.hold(s.content.store().as_ref()),
            }
        })
        .await
        .unwrap_or(Ok(false));
        match hold {
            Ok(true) => {}
            Ok(false) => {
                holding = false;
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            Err(e) => {
                holding = false;
                tracing::warn!(error = %e, "mail sender: cannot reach the store");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        }
        if !holding {
            let s = sender.clone();
            match tokio::task::spawn_blocking(move || s.recover()).await {
                Ok(Ok(0)) => {}
                Ok(Ok(n)) => tracing::warn!(
                    "{n} mails were being sent when the last sender stopped: confirmations are sent again, newsletter mails are marked unknown"
                ),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "mail sender: could not look at mails in flight");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                Err(_) => {}
            }
            holding = true;
        }
        match sender.step().await {
            Ok(0) => {
                tokio::select! {
                    _ = sender.out.wake.notified() => {}
                    _ = tokio::time::sleep(POLL) => {}
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "mail sender: cannot use the queue");
                // Whatever this node left in flight is looked at again, as after a crash.
                holding = false;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
