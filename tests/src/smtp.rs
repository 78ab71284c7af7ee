//! A real SMTP server for the mail tests: `tests/smtp/server.py` (aiosmtpd from PyPI), which
//! spools every accepted message; `tests/smtp/check_headers.py` parses them with Python's
//! `email` module.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

/// A running SMTP server; stopped on drop.
pub struct SmtpServer {
    child: Child,
    pub port: u16,
    pub spool: PathBuf,
    _tmp: tempfile::TempDir,
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("smtp")
        .join(name)
}

impl SmtpServer {
    /// Starts the server on a free port; `extra` are its flags (`--tempfails N`, `--auth U:P`).
    pub fn start(extra: &[&str]) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let spool = tmp.path().join("spool");
        let mut child = Command::new("python3")
            .arg(script("server.py"))
            .arg(&spool)
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs (tests/run installs aiosmtpd)");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(p) = line.strip_prefix("READY ") {
                    let _ = tx.send(p.trim().parse::<u16>().unwrap_or(0));
                }
            }
        });
        let port = rx.recv_timeout(Duration::from_secs(30)).expect(
            "the SMTP server is ready (is aiosmtpd installed? python3 -m pip install aiosmtpd)",
        );
        SmtpServer {
            child,
            port,
            spool,
            _tmp: tmp,
        }
    }

    /// `smtp://127.0.0.1:PORT` (plain text: a local relay).
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// How many messages it accepted.
    pub fn count(&self) -> usize {
        std::fs::read_dir(&self.spool)
            .map(|d| {
                d.flatten()
                    .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                    .count()
            })
            .unwrap_or(0)
    }

    /// Every accepted message as Python's `email` module read it (recipient, subject, headers,
    /// text, whether the RFC 8058 pair is valid); panics when a header does not parse.
    pub fn mails(&self) -> Vec<Value> {
        if !self.spool.exists() {
            return Vec::new();
        }
        let out = Command::new("python3")
            .arg(script("check_headers.py"))
            .arg(&self.spool)
            .output()
            .expect("python3 runs");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "a mail's headers do not parse:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text.lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }

    /// The messages to `to` (case-insensitive).
    pub fn mails_to(&self, to: &str) -> Vec<Value> {
        let to = to.to_lowercase();
        self.mails()
            .into_iter()
            .filter(|m| m["to"] == to.as_str())
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
