//! Where mails go: an SMTP server (lettre: pooled connections, STARTTLS or implicit TLS,
//! AUTH) or an outbox directory of `.eml` files.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::address::{Address, Envelope};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::{AsyncSmtpTransport, PoolConfig};
use lettre::{AsyncTransport, Tokio1Executor};

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain text (only for a relay on this machine or a trusted network: `?tls=none`).
    None,
    /// STARTTLS, required (`smtp://`, port 587 by default).
    StartTls,
    /// TLS from the first byte (`smtps://`, port 465 by default).
    Implicit,
}

/// An SMTP server to send through. The password never appears in `Debug` or logs.
#[derive(Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub user: Option<String>,
    password: Option<String>,
    /// How long one SMTP conversation may take.
    pub timeout: Duration,
}

impl std::fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

impl SmtpConfig {
    /// Parses `smtp://[user@]host[:port][?tls=none|starttls]` or `smtps://[user@]host[:port]`.
    /// The password comes from elsewhere (an environment variable or a file): one in the URL
    /// is refused, because URLs end up in shell histories, process lists and logs. Plain text
    /// is the default only for a relay on this machine (`localhost`, `127.0.0.1`, `::1`).
    pub fn parse(url: &str, password: Option<String>) -> Result<SmtpConfig, String> {
        let u = url::Url::parse(url).map_err(|e| {
            format!(
                "{url:?} is not an SMTP URL ({e}); write it like smtp://user@mail.example.org:587"
            )
        })?;
        let host = u
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| {
                format!("{url:?} names no host; write it like smtp://user@mail.example.org:587")
            })?
            .trim_matches(['[', ']'])
            .to_string();
        if u.password().is_some() {
            return Err("the SMTP URL contains a password: remove it from the URL and give it in VERBUND_SMTP_PASSWORD or a file (--smtp-password-file)".into());
        }
        let tls_param = u
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.to_string());
        let local = matches!(host.as_str(), "localhost" | "127.0.0.1" | "::1");
        let (tls, default_port) = match (u.scheme(), tls_param.as_deref()) {
            ("smtps", None | Some("implicit")) => (TlsMode::Implicit, 465),
            ("smtp", Some("none")) => (TlsMode::None, 25),
            ("smtp", Some("starttls" | "required")) => (TlsMode::StartTls, 587),
            ("smtp", None) if local => (TlsMode::None, 25),
            ("smtp", None) => (TlsMode::StartTls, 587),
            (scheme @ ("smtp" | "smtps"), Some(other)) => {
                return Err(format!(
                    "tls={other:?} is not known for {scheme}://; use tls=starttls (the default for smtp://), tls=none (plain text, for a relay on a trusted network) or smtps:// (implicit TLS)"
                ));
            }
            (scheme, _) => {
                return Err(format!(
                    "{scheme}:// is not an SMTP URL; use smtp://user@host:587 (STARTTLS) or smtps://user@host:465 (implicit TLS)"
                ));
            }
        };
        let user = (!u.username().is_empty()).then(|| percent_decode(u.username()));
        if user.is_some() && password.is_none() {
            return Err(format!(
                "the SMTP URL names the user {:?} but no password was given: set VERBUND_SMTP_PASSWORD or --smtp-password-file",
                user.as_deref().unwrap_or_default()
            ));
        }
        if user.is_some() && tls == TlsMode::None && !local {
            return Err("refusing to send a password in plain text to a remote SMTP server: drop tls=none (STARTTLS is the default) or use smtps://".into());
        }
        Ok(SmtpConfig {
            host,
            port: u.port().unwrap_or(default_port),
            tls,
            user,
            password,
            timeout: Duration::from_secs(60),
        })
    }

    /// The URL without any secret, for logs and status.
    pub fn display(&self) -> String {
        let scheme = if self.tls == TlsMode::Implicit {
            "smtps"
        } else {
            "smtp"
        };
        let user = self
            .user
            .as_ref()
            .map(|u| format!("{u}@"))
            .unwrap_or_default();
        let tls = match self.tls {
            TlsMode::None => "?tls=none",
            _ => "",
        };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{scheme}://{user}{host}:{}{tls}", self.port)
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(hex) = std::str::from_utf8(&b[i + 1..i + 3])
            && let Ok(v) = u8::from_str_radix(hex, 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What one attempt brought.
#[derive(Debug, Clone)]
pub enum Sent {
    /// Accepted; the server's reply.
    Accepted(String),
    /// Worth another attempt later (4xx, connection trouble).
    Temporary(String),
    /// Refused for good (5xx, an address SMTP cannot carry).
    Permanent(String),
}

/// Sends mails.
pub enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Outbox(PathBuf),
}

impl Transport {
    pub fn new(
        smtp: Option<&SmtpConfig>,
        outbox: &Path,
        connections: usize,
    ) -> Result<Self, String> {
        let Some(c) = smtp else {
            return Ok(Transport::Outbox(outbox.to_path_buf()));
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(c.host.clone())
            .port(c.port)
            .timeout(Some(c.timeout))
            .pool_config(
                PoolConfig::new()
                    .max_size(u32::try_from(connections.max(1)).unwrap_or(4))
                    .idle_timeout(Duration::from_secs(30)),
            );
        match c.tls {
            TlsMode::None => {}
            TlsMode::StartTls => {
                let p = TlsParameters::new(c.host.clone()).map_err(|e| e.to_string())?;
                b = b.tls(Tls::Required(p));
            }
            TlsMode::Implicit => {
                let p = TlsParameters::new(c.host.clone()).map_err(|e| e.to_string())?;
                b = b.tls(Tls::Wrapper(p));
            }
        }
        if let (Some(u), Some(p)) = (&c.user, &c.password) {
            b = b.credentials(Credentials::new(u.clone(), p.clone()));
        }
        Ok(Transport::Smtp(b.build()))
    }

    /// Sends one message from `from` to `to`.
    pub async fn send(&self, from: &str, to: &str, message: &[u8], name: &str) -> Sent {
        match self {
            Transport::Outbox(dir) => match write_outbox(dir, message, name) {
                Ok(p) => Sent::Accepted(format!("written to {}", p.display())),
                Err(e) => Sent::Temporary(format!(
                    "could not write to the outbox {}: {e}",
                    dir.display()
                )),
            },
            Transport::Smtp(t) => {
                let (Ok(f), Ok(r)) = (from.parse::<Address>(), to.parse::<Address>()) else {
                    return Sent::Permanent(format!(
                        "{to:?} (or the sender {from:?}) is not an address SMTP can carry"
                    ));
                };
                let envelope = match Envelope::new(Some(f), vec![r]) {
                    Ok(e) => e,
                    Err(e) => return Sent::Permanent(e.to_string()),
                };
                match t.send_raw(&envelope, message).await {
                    Ok(resp) => Sent::Accepted(format!(
                        "{} {}",
                        resp.code(),
                        resp.message().collect::<Vec<_>>().join(" ")
                    )),
                    Err(e) if e.is_permanent() => Sent::Permanent(error_text(&e)),
                    Err(e) => Sent::Temporary(error_text(&e)),
                }
            }
        }
    }
}

fn error_text(e: &lettre::transport::smtp::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

fn write_outbox(dir: &Path, message: &[u8], name: &str) -> std::io::Result<PathBuf> {
    use std::io::Write as _;
    crate::keys::private_dir(dir)?;
    let now = chrono::Utc::now();
    let path = dir.join(format!("{}-{name}.eml", now.format("%Y%m%dT%H%M%S%.6f")));
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut file = crate::keys::private_file(&tmp, true)?;
    file.write_all(message)?;
    file.sync_all()?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smtp_urls() {
        let c = SmtpConfig::parse("smtp://127.0.0.1:2525", None).unwrap();
        assert_eq!((c.tls, c.port), (TlsMode::None, 2525));
        let c =
            SmtpConfig::parse("smtp://news%40cluster@mail.example.org", Some("x".into())).unwrap();
        assert_eq!((c.tls, c.port), (TlsMode::StartTls, 587));
        assert_eq!(c.user.as_deref(), Some("news@cluster"));
        assert!(!format!("{c:?}").contains('x') || !format!("{c:?}").contains("\"x\""));
        assert_eq!(c.display(), "smtp://news@cluster@mail.example.org:587");
        let c = SmtpConfig::parse("smtps://u@mail.example.org", Some("geheim".into())).unwrap();
        assert_eq!((c.tls, c.port), (TlsMode::Implicit, 465));
        assert!(!format!("{c:?}").contains("geheim"));
        for (bad, says) in [
            ("smtp://u:pw@mail.example.org", "contains a password"),
            ("smtp://u@mail.example.org", "no password"),
            ("http://mail.example.org", "not an SMTP URL"),
            ("smtp://mail.example.org?tls=maybe", "tls=\"maybe\""),
            ("mail.example.org", "not an SMTP URL"),
        ] {
            let e = SmtpConfig::parse(bad, None).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        let e =
            SmtpConfig::parse("smtp://u@mail.example.org?tls=none", Some("p".into())).unwrap_err();
        assert!(e.contains("plain text"), "{e}");
    }
}
