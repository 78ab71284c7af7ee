//! The mails of the sign-up flow, queued in the commit of the sign-up (see [`crate::mail`]).

use super::*;

pub(super) fn link(settings: &MailSettings, path: &str, token: &str) -> String {
    format!(
        "{}/{path}?token={token}",
        settings.public_url.trim_end_matches('/')
    )
}

pub(super) fn confirmation_mail(settings: &MailSettings, token: &str) -> (String, String) {
    (
        "Bitte bestätigen Sie Ihre Anmeldung zum Newsletter".to_string(),
        format!(
            "Guten Tag,\r\n\r\nbitte bestätigen Sie Ihre Anmeldung zu unserem Newsletter mit einem Klick auf diesen Link (gültig für 7 Tage):\r\n{}\r\n\r\nWenn Sie sich nicht angemeldet haben, ignorieren Sie diese E-Mail einfach; Sie erhalten dann keine weiteren Nachrichten.\r\n",
            link(settings, "api/v1/newsletter/confirm", token)
        ),
    )
}

/// `Name <addr>` as name and address; a bare address has no name.
pub fn split_mailbox(mailbox: &str) -> (Option<&str>, &str) {
    match (mailbox.rfind('<'), mailbox.rfind('>')) {
        (Some(a), Some(b)) if a < b => {
            let name = mailbox[..a].trim().trim_matches('"');
            ((!name.is_empty()).then_some(name), mailbox[a + 1..b].trim())
        }
        _ => (None, mailbox.trim()),
    }
}

/// The writes that queue a plain-text mail of the sign-up flow (for the commit that causes it).
pub(super) fn queue_mail(
    kind: crate::mail::MailKind,
    to: &str,
    subject: &str,
    body: &str,
    subscriber: &str,
) -> Vec<(Tree, Vec<u8>, Vec<u8>)> {
    let mut m = crate::mail::new_mail(kind, to, subject);
    m.body = Some(body.to_string());
    m.subscriber = Some(subscriber.to_string());
    crate::mail::queue_writes(&m)
}

/// The recipient address of an outbox mail, normalised ([`normalise`]). `None` when the
/// file is no mail or names no recipient.
pub fn mail_recipient(path: &Path) -> Option<String> {
    let raw = std::fs::read(path).ok()?;
    let mail = mail_parser::MessageParser::default().parse(&raw)?;
    let addr = mail.to()?.first()?.address()?;
    Some(normalise(addr))
}

/// Reads a mail written to the outbox as "subject\ntext" (tests, the CLI).
pub fn mail_text(path: &Path) -> std::io::Result<String> {
    let raw = std::fs::read(path)?;
    let Some(mail) = mail_parser::MessageParser::default().parse(&raw) else {
        return Ok(String::new());
    };
    let subject = mail.subject().unwrap_or("");
    let text = mail.body_text(0).unwrap_or_default();
    Ok(format!("{subject}\n{text}"))
}
