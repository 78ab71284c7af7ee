//! Admin endpoints of the mail queue and of newsletter issues sent through it.

use std::collections::BTreeMap;

use axum::extract::State;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::params::{self, blocking};
use super::typed::{ApiPath, ApiQuery, Data, JsonBody, Page, ParameterRefs, QueryParams, Reply};
use super::{ApiError, AppState, Code};
use crate::auth::{Caller, Role};
use crate::mail::issue::{self, IssueStatus};
use crate::mail::{self, MailError, MailInfo, MailKind, MailState};

impl From<MailError> for ApiError {
    fn from(e: MailError) -> Self {
        let detail = e.to_string();
        match e {
            MailError::NotFound(_) => ApiError::new(Code::NotFound, detail),
            MailError::Invalid(_) => ApiError::new(Code::Contended, detail),
            MailError::NotRetryable { .. } => ApiError::new(Code::MailNotRetryable, detail),
            MailError::Store(s) => ApiError::from(crate::content::ContentError::from(s)),
            MailError::Corrupt(_) => {
                tracing::error!("{detail}");
                ApiError::new(Code::Internal, "the request failed; it has been logged")
            }
        }
    }
}

fn outgoing(state: &AppState) -> Result<std::sync::Arc<crate::newsletter::MailSettings>, ApiError> {
    state
        .mail
        .clone()
        .ok_or_else(|| ApiError::new(Code::NewsletterOff, "this server sends no mail"))
}

/// Records an admin's action on a mail in the audit log (the id only, no address).
fn audit(
    content: &crate::ContentService,
    actor: &str,
    action: &str,
    id: &str,
) -> Result<(), ApiError> {
    let mut a = crate::auth::AuditRecord::draft(actor, action);
    a.id = Some(id.to_string());
    content.auth().audit(a)?;
    Ok(())
}

/// `{id}` of a mail.
#[derive(Deserialize, JsonSchema)]
pub struct MailPath {
    /// The mail's id (see GET /api/v1/admin/mail).
    #[schemars(length(min = 1))]
    pub id: String,
}

/// `{id}` of a newsletter issue.
#[derive(Deserialize, JsonSchema)]
pub struct IssuePath {
    /// The issue's id, `SINCE_UNTIL_LOCALE[_TOPICS]` (in the answer that sent it).
    #[schemars(length(min = 1))]
    pub id: String,
}

/// Which mails to list.
#[derive(JsonSchema)]
pub struct MailQuery {
    /// Only mails in this state.
    pub state: Option<MailState>,
    /// Only the mails of this newsletter issue.
    pub issue: Option<String>,
    /// How many mails, newest first (1–500, default 50).
    #[schemars(range(min = 1, max = 500))]
    pub limit: usize,
    /// Continue with the mails older than this mail id (`meta.next_before`).
    pub before: Option<String>,
}

impl ParameterRefs for MailQuery {}

impl QueryParams for MailQuery {
    fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        let mut q = MailQuery {
            state: None,
            issue: None,
            limit: 50,
            before: None,
        };
        for (k, v) in params::pairs(raw.map(String::from))? {
            match k.as_str() {
                "state" => {
                    q.state = Some(MailState::parse(&v).ok_or_else(|| {
                        ApiError::new(
                            Code::InvalidParameter,
                            format!(
                                "state={v:?} is not a mail state; use one of queued, sending, sent, failed, unknown, skipped"
                            ),
                        )
                    })?)
                }
                "issue" => q.issue = Some(v),
                "limit" => q.limit = params::limit(&v, 500)?,
                "before" => q.before = Some(v),
                other => return Err(params::unknown(other, "state, issue, limit and before")),
            }
        }
        Ok(q)
    }
}

/// Where the queue stands and where the list continues.
#[derive(Serialize, JsonSchema)]
pub struct MailMeta {
    /// Every mail of the queue by state.
    pub counts: BTreeMap<String, u64>,
    /// Where mails go: the SMTP server (without password) or the outbox directory.
    pub transport: String,
    /// The sender of every mail.
    pub from: String,
    /// Pass as `before` for older mails; absent at the oldest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<MailQuery>,
) -> Result<Reply<Page<MailInfo, MailMeta>>, ApiError> {
    caller.require(Role::Admin)?;
    let out = outgoing(&state)?;
    let content = state.content.clone();
    let limit = q.limit;
    let (list, counts) = blocking(move || {
        let store = content.store().as_ref();
        let list = mail::list(
            store,
            q.state,
            q.issue.as_deref(),
            q.before.as_deref(),
            limit,
        )?;
        Ok((list, mail::counts(store)?))
    })
    .await?;
    let next_before = (list.len() == limit)
        .then(|| list.last().map(|m| m.id.clone()))
        .flatten();
    Ok(Reply::json(&Page {
        data: list.iter().map(|m| m.info()).collect(),
        meta: MailMeta {
            counts: counts
                .into_iter()
                .map(|(s, n)| (s.name().to_string(), n))
                .collect(),
            transport: out.out.describe(),
            from: out.out.options.from.clone(),
            next_before,
        },
    }))
}

pub async fn show(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(MailPath { id }): ApiPath<MailPath>,
) -> Result<Reply<Data<MailInfo>>, ApiError> {
    caller.require(Role::Admin)?;
    let content = state.content.clone();
    let m = blocking(move || Ok(mail::get(content.store().as_ref(), &id)?)).await?;
    Ok(Reply::json(&Data::of(m.info())))
}

pub async fn retry(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(MailPath { id }): ApiPath<MailPath>,
) -> Result<Reply<Data<MailInfo>, 202>, ApiError> {
    caller.require(Role::Admin)?;
    let out = outgoing(&state)?;
    let content = state.content.clone();
    let m = blocking(move || {
        let m = mail::retry(content.store().as_ref(), &id)?;
        audit(&content, &caller.token_id, "mail.retry", &m.id)?;
        Ok(m)
    })
    .await?;
    out.out.wake.notify_one();
    Ok(Reply::json(&Data::of(m.info())))
}

/// A test mail.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TestMail {
    /// Where the test mail goes.
    #[schemars(email, length(max = 254), example = &"redaktion@cluster-it.example")]
    pub to: String,
}

pub async fn test(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<TestMail>,
) -> Result<Reply<Data<MailInfo>, 202>, ApiError> {
    caller.require(Role::Admin)?;
    let out = outgoing(&state)?;
    let TestMail { to } = body.read()?;
    let to = to.trim().to_string();
    if to.len() > 254 || to.parse::<lettre::Address>().is_err() {
        return Err(ApiError::new(
            Code::InvalidRequest,
            format!("{to:?} is not an e-mail address; give one like redaktion@cluster-it.example"),
        ));
    }
    let content = state.content.clone();
    let describe = out.out.describe();
    let m = blocking(move || {
        let mut m = mail::new_mail(MailKind::Test, &to, "Testnachricht von Verbund");
        m.body = Some(format!(
            "Guten Tag,\r\n\r\ndies ist eine Testnachricht des Verbund-Servers. Wenn Sie sie lesen, funktioniert der Versand ({describe}).\r\n\r\nThis is a test message from the Verbund server: mail delivery works.\r\n"
        ));
        mail::queue(content.store().as_ref(), &m)?;
        audit(&content, &caller.token_id, "mail.test", &m.id)?;
        Ok(m)
    })
    .await?;
    out.out.wake.notify_one();
    Ok(Reply::json(&Data::of(m.info())))
}

/// Which issue to send.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SendIssue {
    /// First day of the period (YYYY-MM-DD): stories published from this day on.
    #[schemars(example = &"2026-11-01")]
    pub since: String,
    /// Last day of the period (default: today).
    #[serde(default)]
    pub until: Option<String>,
    /// Only items on these topics (comma-separated topic slugs).
    #[serde(default)]
    pub topics: Option<String>,
    /// The issue's language, for the subscribers who chose it (default de).
    #[serde(default)]
    pub locale: Option<String>,
    /// Only say what would be sent; nothing is queued or stored.
    #[serde(default)]
    pub dry_run: bool,
    /// The export plugin that builds the issue (default newsletter-export).
    #[serde(default)]
    pub plugin: Option<String>,
}

pub async fn send_issue(
    State(state): State<AppState>,
    caller: Caller,
    body: JsonBody<SendIssue>,
) -> Result<Reply<Data<IssueStatus>, 202>, ApiError> {
    caller.require(Role::Admin)?;
    let out = outgoing(&state)?;
    let req = body.read()?;
    let host = state.plugins.clone().ok_or_else(|| {
        ApiError::new(
            Code::PluginsOff,
            "sending an issue needs the newsletter-export plugin, and this server runs without plugins",
        )
    })?;
    let locale = req.locale.clone().unwrap_or_else(|| "de".into());
    let mut topics: Vec<String> = req
        .topics
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(|t| t.trim().to_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    topics.sort();
    topics.dedup();
    let mut params = vec![
        ("since".to_string(), req.since.clone()),
        ("locale".to_string(), locale.clone()),
    ];
    if let Some(u) = &req.until {
        params.push(("until".into(), u.clone()));
    }
    if !topics.is_empty() {
        params.push(("topics".into(), topics.join(",")));
    }
    let plugin = req
        .plugin
        .clone()
        .unwrap_or_else(|| "newsletter-export".into());
    let content = state.content.clone();
    let public_url = out.public_url.clone();
    let st = blocking(move || {
        let artifacts = host.export(&plugin, "issue", params)?;
        let built = issue::from_artifacts(&content, &artifacts)
            .map_err(|e| ApiError::new(Code::PluginFailed, format!("plugin {plugin}: {e}")))?;
        let id = issue::issue_id(&built.since, &built.until, &locale, &topics);
        Ok(issue::send(
            &content,
            issue::Plan {
                id: &id,
                locale: &locale,
                topics: &topics,
                built,
                public_url: &public_url,
                actor: &caller.token_id,
                dry_run: req.dry_run,
            },
        )?)
    })
    .await?;
    out.out.wake.notify_one();
    Ok(Reply::json(&Data::of(st)))
}

pub async fn issue_status(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(IssuePath { id }): ApiPath<IssuePath>,
) -> Result<Reply<Data<IssueStatus>>, ApiError> {
    caller.require(Role::Admin)?;
    let content = state.content.clone();
    let st = blocking(move || Ok(issue::status(content.store().as_ref(), &id)?)).await?;
    Ok(Reply::json(&Data::of(st)))
}
