//! Public newsletter endpoints: sign-up (double opt-in), confirmation, one-click unsubscribe.
//!
//! - `POST /api/v1/newsletter/subscribe` `{"email", "name"?, "topics"?, "consent_text_version"}`
//!   → 202 with the same answer whatever the address's state (see [`crate::newsletter`]).
//! - `GET /api/v1/newsletter/confirm?token=…` checks the link and shows a page with a button;
//!   `POST` (the button) confirms (a page for browsers, JSON on `Accept: application/json`).
//!   Link scanners fetch links, so a GET never confirms. A link works once, and only for the
//!   newest sign-up request (410 `link_used` otherwise).
//! - `POST /api/v1/newsletter/unsubscribe?token=…` unsubscribes (RFC 8058 one-click: mail
//!   programs send `List-Unsubscribe=One-Click`); `GET` shows a page with a button, because
//!   link scanners fetch links and must not unsubscribe anyone.

use super::Code;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Response};
use serde_json::json;

use super::params::{self, blocking};
use super::typed::{
    ApiQuery, BodyDoc, Html as HtmlPage, JsonBody, Media, ParameterRefs, QueryParams, Raw, Reply,
};
use super::{ApiError, AppState};
use crate::newsletter::{self, NewsletterError, SignUp};

impl From<NewsletterError> for ApiError {
    fn from(e: NewsletterError) -> Self {
        let detail = e.to_string();
        match e {
            NewsletterError::BadToken => ApiError::new(Code::InvalidLink, detail),
            NewsletterError::Expired => ApiError::new(Code::LinkExpired, detail),
            NewsletterError::Used => ApiError::new(Code::LinkUsed, detail),
            NewsletterError::Content(c) => ApiError::from(c),
            NewsletterError::Queue(_) => {
                tracing::error!("{detail}");
                ApiError::new(
                    Code::MailUnavailable,
                    "the confirmation mail could not be sent; please try again later",
                )
            }
        }
    }
}

fn settings(state: &AppState) -> Result<newsletter::MailSettings, ApiError> {
    state.mail.as_deref().cloned().ok_or_else(|| {
        ApiError::new(
            Code::NewsletterOff,
            "this server sends no mail, so it has no newsletter",
        )
    })
}

/// The query of a link in a newsletter mail.
#[derive(schemars::JsonSchema)]
pub struct LinkQuery {
    /// The signed token of the link in the e-mail (`payload.key-id.signature`, payload and signature base64url). Missing: 400 missing_token; changed, incomplete or for another purpose: 400 invalid_link; expired: 410 link_expired.
    #[schemars(regex(pattern = super::openapi::LINK_TOKEN_PATTERN))]
    pub token: String,
}

impl ParameterRefs for LinkQuery {}

impl QueryParams for LinkQuery {
    fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        token_param(raw).map(|token| LinkQuery { token })
    }
}

/// The query of the unsubscribe page: the token goes into its form unchecked.
#[derive(schemars::JsonSchema)]
pub struct PageQuery {
    /// The token of the link in the e-mail, put into the page's form as it is (checked by the POST).
    pub token: String,
}

impl ParameterRefs for PageQuery {}

impl QueryParams for PageQuery {
    fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        token_param(raw).map(|token| PageQuery { token })
    }
}

/// Where a sign-up stands, as JSON.
#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct NewsletterStatus {
    pub data: StatusBody,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
pub struct StatusBody {
    pub status: Status,
    /// What to do next, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<&'static str>,
}

#[derive(serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    CheckYourMail,
    ConfirmationPending,
    Confirmed,
    Unsubscribed,
}

impl NewsletterStatus {
    fn new(status: Status, message: Option<&'static str>) -> Self {
        NewsletterStatus {
            data: StatusBody { status, message },
        }
    }
}

/// A page for people, or the status as JSON when `Accept` names JSON.
pub struct PageOrStatus;

impl Media for PageOrStatus {
    fn content() -> serde_json::Value {
        json!({
            "text/html": {"schema": {"type": "string"}},
            "application/json": {"schema": {"$ref": "#/components/schemas/NewsletterStatus"}},
        })
    }
}

/// The form a mail program sends for a one-click unsubscribe (RFC 8058); not read.
pub struct OneClickForm;

impl Media for OneClickForm {
    const REQUIRED: bool = false;
    fn content() -> serde_json::Value {
        json!({
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {"List-Unsubscribe": {"type": "string", "const": "One-Click"}},
                },
            },
        })
    }
}

fn token_param(raw: Option<&str>) -> Result<String, ApiError> {
    let mut token = None;
    for (k, v) in params::pairs(raw.map(String::from))? {
        match k.as_str() {
            "token" => token = Some(v),
            other => return Err(params::unknown(other, "token")),
        }
    }
    token.ok_or_else(|| {
        ApiError::new(
            Code::MissingToken,
            "the link is incomplete: it needs ?token=… (use the link from the e-mail)",
        )
    })
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("json"))
}

fn page(title: &str, text: &str, extra: &str) -> Html<String> {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
    };
    Html(format!(
        "<!doctype html><html lang=\"de\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{t}</title></head><body style=\"font-family:sans-serif;max-width:36em;margin:3em auto;padding:0 1em;line-height:1.5\"><h1>{t}</h1><p>{x}</p>{extra}</body></html>",
        t = esc(title),
        x = esc(text)
    ))
}

pub async fn subscribe(
    State(state): State<AppState>,
    body: JsonBody<SignUp>,
) -> Result<Reply<NewsletterStatus, 202>, ApiError> {
    let settings = settings(&state)?;
    let value = body.value()?;
    let mut req: SignUp = serde_json::from_value(value).map_err(|e| {
        ApiError::new(
            Code::InvalidSignUp,
            format!("send {{\"email\", \"name\" (optional), \"topics\" (optional), \"consent_text_version\"}}: {e}"),
        )
    })?;
    // A blank name is no name, wherever the sign-up goes (new or repeated).
    req.name = req
        .name
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    blocking(move || {
        newsletter::check_sign_up(&state.content, &req)?;
        newsletter::sign_up(&state.content, &settings, req)?;
        Ok(())
    })
    .await?;
    Ok(Reply::json(&NewsletterStatus::new(
        Status::CheckYourMail,
        Some(
            "Fast geschafft: Bitte bestätigen Sie Ihre Anmeldung über den Link in der E-Mail, die wir gerade an diese Adresse geschickt haben.",
        ),
    )))
}

fn invalid_confirm_page(e: NewsletterError) -> Response {
    let text = match e {
        NewsletterError::Used => {
            "Dieser Bestätigungslink wurde bereits verwendet oder durch eine neuere Anmeldung bzw. eine Abmeldung ersetzt. Bitte melden Sie sich erneut an, wenn Sie den Newsletter erhalten möchten."
        }
        _ => {
            "Dieser Bestätigungslink ist ungültig oder abgelaufen. Bitte melden Sie sich erneut an; Sie erhalten dann einen neuen Link."
        }
    };
    let status = ApiError::from(e).status;
    (status, page("Link ungültig", text, "")).into_response()
}

/// The page a confirmation link opens: checks the link, then a button that sends the POST.
pub async fn confirm_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(LinkQuery { token }): ApiQuery<LinkQuery>,
) -> Result<Raw<PageOrStatus>, ApiError> {
    let json = wants_json(&headers);
    let checked = token.clone();
    let result = blocking(move || Ok(newsletter::check_confirm(&state.content, &checked))).await?;
    let res = match (result, json) {
        (Ok(()), true) => Ok(Json(NewsletterStatus::new(
            Status::ConfirmationPending,
            Some("POST to this URL to confirm"),
        ))
        .into_response()),
        (Ok(()), false) => {
            let form = format!(
                "<form method=\"post\" action=\"?token={}\"><button type=\"submit\" style=\"font-size:1.1em;padding:.5em 1em\">Anmeldung bestätigen</button></form>",
                token.replace('"', "%22").replace('<', "%3C")
            );
            Ok(page(
                "Anmeldung bestätigen",
                "Bitte bestätigen Sie mit einem Klick, dass Sie unseren Newsletter erhalten möchten.",
                &form,
            )
            .into_response())
        }
        (Err(e), true) => Err(e.into()),
        (Err(e), false) => Ok(invalid_confirm_page(e)),
    };
    res.map(Raw::new)
}

pub async fn confirm(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(LinkQuery { token }): ApiQuery<LinkQuery>,
) -> Result<Raw<PageOrStatus>, ApiError> {
    let json = wants_json(&headers);
    let result = blocking(move || Ok(newsletter::confirm(&state.content, &token))).await?;
    let res = match (result, json) {
        (Ok(_), true) => Ok(Json(NewsletterStatus::new(Status::Confirmed, None)).into_response()),
        (Ok(_), false) => Ok(page(
            "Anmeldung bestätigt",
            "Vielen Dank! Ihre Anmeldung zum Newsletter ist bestätigt. Abmelden können Sie sich jederzeit über den Link in jeder Ausgabe.",
            "",
        )
        .into_response()),
        (Err(e), true) => Err(e.into()),
        (Err(e), false) => Ok(invalid_confirm_page(e)),
    };
    res.map(Raw::new)
}

/// The page a mail link opens: a button that sends the one-click POST.
pub async fn unsubscribe_page(
    ApiQuery(PageQuery { token }): ApiQuery<PageQuery>,
) -> Result<Raw<HtmlPage>, ApiError> {
    let form = format!(
        "<form method=\"post\" action=\"?token={}\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\"><button type=\"submit\" style=\"font-size:1.1em;padding:.5em 1em\">Vom Newsletter abmelden</button></form>",
        token.replace('"', "%22").replace('<', "%3C")
    );
    Ok(Raw::new(
        page(
            "Newsletter abbestellen",
            "Möchten Sie keine Newsletter mehr erhalten? Ein Klick genügt.",
            &form,
        )
        .into_response(),
    ))
}

pub async fn unsubscribe(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(LinkQuery { token }): ApiQuery<LinkQuery>,
    _: BodyDoc<OneClickForm>,
) -> Result<Raw<PageOrStatus>, ApiError> {
    let json = wants_json(&headers);
    blocking(move || Ok(newsletter::unsubscribe(&state.content, &token)?)).await?;
    let res = if json {
        Json(NewsletterStatus::new(Status::Unsubscribed, None)).into_response()
    } else {
        page(
            "Abgemeldet",
            "Sie sind vom Newsletter abgemeldet und erhalten keine weiteren Ausgaben.",
            "",
        )
        .into_response()
    };
    Ok(Raw::new(res))
}
