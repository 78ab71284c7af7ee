//! The mails of the sign-up flow, written to the outbox as `.eml` files.

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
pub(super) fn split_mailbox(mailbox: &str) -> (Option<&str>, &str) {
    match (mailbox.rfind('<'), mailbox.rfind('>')) {
        (Some(a), Some(b)) if a < b => {
            let name = mailbox[..a].trim().trim_matches('"');
            ((!name.is_empty()).then_some(name), mailbox[a + 1..b].trim())
        }
        _ => (None, mailbox.trim()),
    }
}

/// Writes a plain-text mail to the outbox (MIME by `mail-builder`: encoded words within
/// RFC 2047's limits, folded headers, a transfer encoding chosen for the text).
pub(super) fn write_mail(
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
    keys::private_dir(outbox).map_err(err)?;
    let now: DateTime<Utc> = Utc::now();
    let (from_name, from_addr) = split_mailbox(&settings.from);
    let mail = mail_builder::MessageBuilder::new()
        .from(mail_builder::headers::address::Address::new_address(
            from_name, from_addr,
        ))
        .to(to)
        .subject(subject)
        .date(now.timestamp())
        .message_id(format!(
            "{}.{id}@verbund",
            now.timestamp_nanos_opt().unwrap_or_default()
        ))
        .text_body(body)
        .write_to_vec()
        .map_err(err)?;
    let path = outbox.join(format!("{}-{id}.eml", now.format("%Y%m%dT%H%M%S%.6f")));
    let mut file = keys::private_file(&path, true).map_err(err)?;
    file.write_all(&mail).map_err(err)?;
    Ok(path)
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
