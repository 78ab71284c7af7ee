//! A small MIME writer: base64, RFC 2047 encoded words, mailboxes and the
//! multipart/alternative sample message.

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 (RFC 4648) with padding, on one line.
pub fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(B64[(n >> 18) as usize & 63] as char);
        out.push(B64[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            B64[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            B64[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

/// Base64 for a MIME body part: lines of at most 76 characters, each ended by CRLF.
pub fn base64_body(bytes: &[u8]) -> String {
    let one = base64(bytes);
    let mut out = String::with_capacity(one.len() + one.len() / 76 * 2 + 2);
    for line in one.as_bytes().chunks(76) {
        // base64 output is ASCII
        out.push_str(core::str::from_utf8(line).unwrap_or_default());
        out.push_str("\r\n");
    }
    out
}

/// Removes line breaks and other control characters (header injection) and trims.
pub fn header_safe(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// RFC 2047 `=?UTF-8?B?…?=` words for `text`, each at most 75 characters, split on
/// character boundaries, joined by a folding CRLF SP.
pub fn encoded_words(text: &str) -> String {
    // 45 bytes -> 60 base64 characters + 12 for `=?UTF-8?B?` and `?=` = 72 <= 75.
    const MAX: usize = 45;
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in text.chars() {
        if chunk.len() + c.len_utf8() > MAX {
            words.push(format!("=?UTF-8?B?{}?=", base64(chunk.as_bytes())));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() || words.is_empty() {
        words.push(format!("=?UTF-8?B?{}?=", base64(chunk.as_bytes())));
    }
    words.join("\r\n ")
}

/// An unstructured header value (e.g. `Subject`): as it is when printable ASCII, else
/// encoded words.
pub fn unstructured(text: &str) -> String {
    let text = header_safe(text);
    if text.bytes().all(|b| (0x20..0x7f).contains(&b)) && !text.contains("=?") {
        text
    } else {
        encoded_words(&text)
    }
}

/// A display name as an RFC 5322 phrase: atoms as they are, ASCII with specials as a
/// quoted string, anything else as encoded words.
pub fn phrase(name: &str) -> String {
    let name = header_safe(name);
    if !name.is_ascii() || name.contains("=?") {
        return encoded_words(&name);
    }
    let atext = |c: char| c.is_ascii_alphanumeric() || " !#$%&'*+-/=?^_`{|}~".contains(c);
    if name.chars().all(atext) {
        name
    } else {
        let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{escaped}\"")
    }
}

/// `Name <addr>` (or `addr` without a name), for From/To.
pub fn mailbox(name: Option<&str>, addr: &str) -> String {
    let addr = header_safe(addr);
    match name.map(header_safe).filter(|n| !n.is_empty()) {
        Some(n) => format!("{} <{addr}>", phrase(&n)),
        None => addr,
    }
}

/// Splits `Name <addr>` (or a bare `addr`) into its parts.
pub fn split_mailbox(s: &str) -> (Option<String>, String) {
    let s = s.trim();
    if let (Some(open), true) = (s.rfind('<'), s.ends_with('>')) {
        let name = s[..open].trim().trim_matches('"').trim();
        let addr = s[open + 1..s.len() - 1].trim();
        let name = (!name.is_empty()).then(|| name.to_string());
        (name, addr.to_string())
    } else {
        (None, s.to_string())
    }
}

/// The domain of an address, for the Message-ID (`verbund.invalid` when there is none).
pub fn domain_of(addr: &str) -> String {
    match addr.rsplit_once('@') {
        Some((_, d))
            if !d.is_empty()
                && d.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-') =>
        {
            d.to_ascii_lowercase()
        }
        _ => "verbund.invalid".into(),
    }
}

/// FNV-1a, 64 bit: a stable hash for ids and boundaries (not for security).
pub fn fnv64(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain([0u8]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// What goes into the sample message.
pub struct Message<'a> {
    pub from: &'a str,
    pub to: &'a str,
    pub subject: &'a str,
    /// RFC 2822 date, e.g. `Sun, 22 Nov 2026 10:15:00 +0000`.
    pub date: &'a str,
    pub message_id: &'a str,
    pub list_unsubscribe: &'a str,
    pub text: &'a str,
    pub html: &'a str,
}

/// A complete multipart/alternative message (text first, then HTML, both base64), CRLF
/// line ends. `from` and `to` must already be header-ready mailboxes.
pub fn build_message(m: &Message) -> String {
    let boundary = format!("=_verbund_{:016x}", fnv64(&[m.message_id, m.subject, m.to]));
    let mut out = String::new();
    let mut header = |name: &str, value: &str| {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    };
    header("From", m.from);
    header("To", m.to);
    header("Subject", &unstructured(m.subject));
    header("Date", m.date);
    header("Message-ID", m.message_id);
    header("MIME-Version", "1.0");
    header(
        "List-Unsubscribe",
        &format!("<{}>", header_safe(m.list_unsubscribe)),
    );
    header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click");
    header(
        "Content-Type",
        &format!("multipart/alternative; boundary=\"{boundary}\""),
    );
    out.push_str("\r\nThis is a multi-part message in MIME format.\r\n");
    for (ty, body) in [("text/plain", m.text), ("text/html", m.html)] {
        out.push_str(&format!(
            "\r\n--{boundary}\r\nContent-Type: {ty}; charset=utf-8\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n"
        ));
        out.push_str(&base64_body(body.as_bytes()));
    }
    out.push_str(&format!("\r\n--{boundary}--\r\n"));
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A base64 decoder for checking the encoder and the sample message.
    pub fn unbase64(s: &str) -> Vec<u8> {
        let val = |c: u8| B64.iter().position(|&b| b == c).map(|p| p as u32);
        let clean: Vec<u8> = s
            .bytes()
            .filter(|b| !b.is_ascii_whitespace() && *b != b'=')
            .collect();
        let mut out = Vec::new();
        for chunk in clean.chunks(4) {
            let mut n = 0u32;
            for (i, &c) in chunk.iter().enumerate() {
                n |= val(c).expect("base64 alphabet") << (18 - 6 * i);
            }
            let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            out.extend_from_slice(&bytes[..chunk.len() - 1]);
        }
        out
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), enc);
            assert_eq!(unbase64(enc), plain.as_bytes());
        }
        assert_eq!(base64("Grüße".as_bytes()), "R3LDvMOfZQ==");
    }

    #[test]
    fn body_lines_are_76_chars_with_crlf() {
        let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let body = base64_body(&data);
        assert!(body.ends_with("\r\n"));
        let lines: Vec<&str> = body.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert!(lines.iter().all(|l| l.len() <= 76));
        assert!(lines[..lines.len() - 1].iter().all(|l| l.len() == 76));
        assert_eq!(unbase64(&body), data);
    }

    #[test]
    fn encoded_words_split_on_characters_and_stay_short() {
        assert_eq!(unstructured("Newsletter November"), "Newsletter November");
        let s = unstructured("Newsletter – November 2026");
        assert_eq!(s, "=?UTF-8?B?TmV3c2xldHRlciDigJMgTm92ZW1iZXIgMjAyNg==?=");
        let long = "Größere Überraschungen: äöü ÄÖÜ ß – ein sehr langer Betreff mit Umlauten";
        let enc = unstructured(long);
        let mut decoded = Vec::new();
        for word in enc.split("\r\n ") {
            assert!(word.len() <= 75, "{word}");
            let inner = word
                .strip_prefix("=?UTF-8?B?")
                .and_then(|w| w.strip_suffix("?="))
                .unwrap();
            let part = unbase64(inner);
            assert!(
                String::from_utf8(part.clone()).is_ok(),
                "split inside a character"
            );
            decoded.extend(part);
        }
        assert_eq!(String::from_utf8(decoded).unwrap(), long);
        // Header injection is defused.
        assert_eq!(
            unstructured("Hallo\r\nBcc: x@example.org"),
            "Hallo Bcc: x@example.org"
        );
    }

    #[test]
    fn mailboxes() {
        assert_eq!(
            mailbox(Some("Anna Wendt"), "anna.wendt@example.org"),
            "Anna Wendt <anna.wendt@example.org>"
        );
        assert_eq!(mailbox(None, "a@example.org"), "a@example.org");
        assert_eq!(mailbox(Some("  "), "a@example.org"), "a@example.org");
        assert_eq!(
            mailbox(Some("Wendt, Anna \"AW\""), "a@example.org"),
            "\"Wendt, Anna \\\"AW\\\"\" <a@example.org>"
        );
        assert_eq!(
            mailbox(Some("Jürgen Öhme"), "j@example.org"),
            "=?UTF-8?B?SsO8cmdlbiDDlmhtZQ==?= <j@example.org>"
        );
        assert_eq!(
            mailbox(Some("Cluster IT Mitteldeutschland e. V."), "n@example.org"),
            "\"Cluster IT Mitteldeutschland e. V.\" <n@example.org>"
        );
        assert_eq!(
            split_mailbox("Cluster IT Mitteldeutschland <newsletter@cluster-it.example>"),
            (
                Some("Cluster IT Mitteldeutschland".into()),
                "newsletter@cluster-it.example".into()
            )
        );
        assert_eq!(
            split_mailbox("\"Doe, J\" <j@example.org>"),
            (Some("Doe, J".into()), "j@example.org".into())
        );
        assert_eq!(
            split_mailbox("j@example.org"),
            (None, "j@example.org".into())
        );
        assert_eq!(
            domain_of("newsletter@Cluster-IT.example"),
            "cluster-it.example"
        );
        assert_eq!(domain_of("nobody"), "verbund.invalid");
    }

    #[test]
    fn message_structure() {
        let m = Message {
            from: "Absender <a@example.org>",
            to: "b@example.org",
            subject: "Newsletter – Test",
            date: "Sun, 22 Nov 2026 10:15:00 +0000",
            message_id: "<x@example.org>",
            list_unsubscribe: "https://example.org/u?token=abc",
            text: "Hallo Welt – Text",
            html: "<p>Hallo Welt</p>",
        };
        let eml = build_message(&m);
        assert!(eml.contains("\r\nList-Unsubscribe: <https://example.org/u?token=abc>\r\n"));
        assert!(eml.contains("\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"));
        assert!(eml.contains("\r\nMIME-Version: 1.0\r\n"));
        // Only CRLF line ends.
        assert!(!eml.replace("\r\n", "").contains('\n'));
        assert!(!eml.replace("\r\n", "").contains('\r'));
        let (head, body) = eml.split_once("\r\n\r\n").unwrap();
        let boundary = head
            .split("boundary=\"")
            .nth(1)
            .unwrap()
            .trim_end_matches('"')
            .to_string();
        let parts: Vec<&str> = body.split(&format!("--{boundary}")).collect();
        assert_eq!(parts.len(), 4, "preamble, text, html, epilogue");
        assert!(parts[3].starts_with("--"));
        let decode = |p: &str| {
            let (h, b) = p.split_once("\r\n\r\n").unwrap();
            (h.to_string(), String::from_utf8(unbase64(b)).unwrap())
        };
        let (h1, t1) = decode(parts[1]);
        assert!(h1.contains("Content-Type: text/plain; charset=utf-8"));
        assert!(h1.contains("Content-Transfer-Encoding: base64"));
        assert_eq!(t1, "Hallo Welt – Text");
        let (h2, t2) = decode(parts[2]);
        assert!(h2.contains("Content-Type: text/html; charset=utf-8"));
        assert_eq!(t2, "<p>Hallo Welt</p>");
    }
}
