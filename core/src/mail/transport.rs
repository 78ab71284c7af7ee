//! Where mails go: an SMTP server (lettre: pooled connections, STARTTLS or implicit TLS,
//! AUTH) or an outbox directory of `.eml` files.

use std::path::{Path, PathBuf};
use std::time::Duration;

use std::sync::Mutex;
use std::time::Instant;

use lettre::address::{Address, Envelope};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;

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
    Smtp(SmtpPool),
    Outbox(PathBuf),
}

/// Open SMTP connections for reuse (lettre's `AsyncSmtpConnection`s). Connections are made
/// here rather than by lettre's pool so that their sockets send at once (`TCP_NODELAY`):
/// lettre writes a message's end (`.`) on its own, which Nagle's algorithm would otherwise
/// hold back until the server's delayed acknowledgement, 40 ms per mail.
pub struct SmtpPool {
    config: SmtpConfig,
    hello: ClientId,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    max_idle: usize,
}

/// A connection idle for longer is checked with NOOP before it is used again.
const CHECK_AFTER: Duration = Duration::from_secs(10);

impl SmtpPool {
    async fn connect(&self) -> Result<AsyncSmtpConnection, Sent> {
        let c = &self.config;
        let tls = |e: lettre::transport::smtp::Error| {
            Sent::Temporary(format!("TLS setup for {}: {}", c.host, error_text(&e)))
        };
        let failed = |e: lettre::transport::smtp::Error| {
            let text = format!("{}: {}", c.display(), error_text(&e));
            if e.is_permanent() {
                Sent::Permanent(text)
            } else {
                Sent::Temporary(text)
            }
        };
        let mut conn = match c.tls {
            TlsMode::Implicit => {
                let params = TlsParameters::new(c.host.clone()).map_err(tls)?;
                AsyncSmtpConnection::connect_tokio1(
                    (c.host.as_str(), c.port),
                    Some(c.timeout),
                    &self.hello,
                    Some(params),
                    None,
                )
                .await
                .map_err(failed)?
            }
            TlsMode::None | TlsMode::StartTls => {
                let stream = tokio::time::timeout(
                    c.timeout,
                    tokio::net::TcpStream::connect((c.host.as_str(), c.port)),
                )
                .await
                .map_err(|_| Sent::Temporary(format!("{}: connection timed out", c.display())))?
                .map_err(|e| Sent::Temporary(format!("{}: {e}", c.display())))?;
                let _ = stream.set_nodelay(true);
                let mut conn =
                    AsyncSmtpConnection::connect_with_transport(Box::new(stream), &self.hello)
                        .await
                        .map_err(failed)?;
                if c.tls == TlsMode::StartTls {
                    let params = TlsParameters::new(c.host.clone()).map_err(tls)?;
                    conn.starttls(params, &self.hello).await.map_err(|e| {
                        Sent::Temporary(format!(
                            "{}: STARTTLS failed ({}); use smtps:// for implicit TLS, or tls=none for a relay on a trusted network",
                            c.display(),
                            error_text(&e)
                        ))
                    })?;
                }
                conn
            }
        };
        if let (Some(u), Some(p)) = (&c.user, &c.password) {
            conn.auth(
                &[Mechanism::Plain, Mechanism::Login],
                &Credentials::new(u.clone(), p.clone()),
            )
            .await
            .map_err(|e| {
                // A refused login is the settings' fault: retrying later may help once
                // they are fixed, so it stays temporary, with what the server said.
                Sent::Temporary(format!(
                    "{}: login refused: {}",
                    c.display(),
                    error_text(&e)
                ))
            })?;
        }
        Ok(conn)
    }

    async fn checkout(&self) -> Result<AsyncSmtpConnection, Sent> {
        loop {
            let next = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let Some((mut conn, since)) = next else {
                return self.connect().await;
            };
            if conn.has_broken() {
                continue;
            }
            if since.elapsed() > CHECK_AFTER && !conn.test_connected().await {
                continue;
            }
            return Ok(conn);
        }
    }

    fn checkin(&self, conn: AsyncSmtpConnection) {
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.max_idle && !conn.has_broken() {
            idle.push((conn, Instant::now()));
        }
    }

    async fn send(&self, envelope: &Envelope, message: &[u8]) -> Sent {
        let mut conn = match self.checkout().await {
            Ok(c) => c,
            Err(e) => return e,
        };
        match tokio::time::timeout(self.config.timeout, conn.send(envelope, message)).await {
            Ok(Ok(resp)) => {
                self.checkin(conn);
                Sent::Accepted(format!(
                    "{} {}",
                    resp.code(),
                    resp.message().collect::<Vec<_>>().join(" ")
                ))
            }
            // After a refusal the connection is mid-transaction: it is closed, not reused.
            Ok(Err(e)) => {
                conn.abort().await;
                if e.is_permanent() {
                    Sent::Permanent(error_text(&e))
                } else {
                    Sent::Temporary(error_text(&e))
                }
            }
            Err(_) => Sent::Temporary(format!(
                "{}: no answer within {} s",
                self.config.display(),
                self.config.timeout.as_secs()
            )),
        }
    }
}

impl Transport {
    pub fn new(
        smtp: Option<&SmtpConfig>,
        outbox: &Path,
        connections: usize,
        from: &str,
    ) -> Result<Self, String> {
        let Some(c) = smtp else {
            return Ok(Transport::Outbox(outbox.to_path_buf()));
        };
        if c.tls != TlsMode::None {
            // Checked once at start, so that a TLS setup problem is a start-up error.
            TlsParameters::new(c.host.clone()).map_err(|e| error_text(&e))?;
        }
        // EHLO names the sender's domain (a name the receiving side can look up).
        let domain = from.rsplit_once('@').map_or("localhost", |(_, d)| d);
        let domain = domain.trim_end_matches('>').trim();
        Ok(Transport::Smtp(SmtpPool {
            config: c.clone(),
            hello: ClientId::Domain(domain.to_string()),
            idle: Mutex::new(Vec::new()),
            max_idle: connections.max(1),
        }))
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
            Transport::Smtp(pool) => {
                let (Ok(f), Ok(r)) = (from.parse::<Address>(), to.parse::<Address>()) else {
                    return Sent::Permanent(format!(
                        "{to:?} (or the sender {from:?}) is not an address SMTP can carry"
                    ));
                };
                let envelope = match Envelope::new(Some(f), vec![r]) {
                    Ok(e) => e,
                    Err(e) => return Sent::Permanent(e.to_string()),
                };
                pool.send(&envelope, message).await
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
