//! A webhook receiver for tests and benchmarks: a small HTTP/1.1 server on 127.0.0.1 that
//! records every request (headers, body, arrival time) and answers as its behaviour says
//! (a status, extra headers, a delay, or no answer at all), and a check of the recorded
//! deliveries with the `standardwebhooks` package from PyPI, a verifier Verbund did not write.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    /// Header names in lower case; a repeated header's values joined by ", ".
    pub headers: HashMap<String, String>,
    pub body: String,
    pub path: String,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_default()
    }
}

/// How the receiver answers one request.
#[derive(Debug, Clone)]
pub enum Answer {
    /// This status (and headers) after this delay.
    Status(u16, Vec<(String, String)>, Duration),
    /// Keep the connection open without answering, for this long.
    Hang(Duration),
}

impl Answer {
    pub fn ok() -> Self {
        Answer::Status(200, Vec::new(), Duration::ZERO)
    }
    pub fn status(code: u16) -> Self {
        Answer::Status(code, Vec::new(), Duration::ZERO)
    }
}

type Behaviour = dyn Fn(usize, &Received) -> Answer + Send + Sync;

/// A running receiver; its thread stops with the process.
pub struct Receiver {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    behaviour: Arc<Mutex<Arc<Behaviour>>>,
}

impl Receiver {
    /// A receiver that answers 200 to everything.
    pub fn start() -> Self {
        Self::with(|_, _| Answer::ok())
    }

    /// A receiver answering request number `n` (from 0) as `f` says.
    pub fn with(f: impl Fn(usize, &Received) -> Answer + Send + Sync + 'static) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a receiver");
        let addr = listener.local_addr().expect("receiver address");
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let behaviour: Arc<Mutex<Arc<Behaviour>>> = Arc::new(Mutex::new(Arc::new(f)));
        let (r, b) = (received.clone(), behaviour.clone());
        std::thread::spawn(move || {
            let counter = Arc::new(Mutex::new(0usize));
            for conn in listener.incoming().flatten() {
                let (r, b, counter) = (r.clone(), b.clone(), counter.clone());
                std::thread::spawn(move || serve(conn, &r, &b, &counter));
            }
        });
        Receiver {
            addr,
            received,
            behaviour,
        }
    }

    /// Changes how later requests are answered.
    pub fn set(&self, f: impl Fn(usize, &Received) -> Answer + Send + Sync + 'static) {
        *self.behaviour.lock().unwrap() = Arc::new(f);
    }

    /// `http://127.0.0.1:PORT/hook`.
    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// How many requests arrived so far.
    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits until `f` holds for what was received (up to `timeout`); returns it.
    pub fn wait_for(&self, timeout: Duration, f: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received();
            if f(&got) || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn serve(
    conn: TcpStream,
    received: &Mutex<Vec<Received>>,
    behaviour: &Mutex<Arc<Behaviour>>,
    counter: &Mutex<usize>,
) {
    let _ = conn.set_nodelay(true);
    let mut reader = BufReader::new(conn.try_clone().expect("clone the stream"));
    let mut conn = conn;
    // Several requests on one connection (the sender keeps connections alive).
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
        let mut headers: HashMap<String, String> = HashMap::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers
                    .entry(k.trim().to_ascii_lowercase())
                    .and_modify(|e| {
                        e.push_str(", ");
                        e.push_str(v.trim());
                    })
                    .or_insert_with(|| v.trim().to_string());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let req = Received {
            at: Instant::now(),
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
            path,
        };
        let n = {
            let mut c = counter.lock().unwrap();
            *c += 1;
            *c - 1
        };
        received.lock().unwrap().push(req.clone());
        let f = behaviour.lock().unwrap().clone();
        match f(n, &req) {
            Answer::Hang(d) => {
                std::thread::sleep(d);
                return;
            }
            Answer::Status(code, extra, delay) => {
                std::thread::sleep(delay);
                let body = format!("{{\"received\":{n}}}");
                let mut head = format!(
                    "HTTP/1.1 {code} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
                    body.len()
                );
                for (k, v) in extra {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                // One write: a head and a body in two small writes would wait for the
                // client's delayed ACK (Nagle), 40 ms a request.
                head.push_str(&body);
                if conn.write_all(head.as_bytes()).is_err() {
                    return;
                }
            }
        }
    }
}

/// Checks each delivery's signature with the `standardwebhooks` package (PyPI) and `secret`:
/// `Ok(payload)` or `Err(the verifier's message)` per delivery.
pub fn verify_with_standardwebhooks(
    secret: &str,
    deliveries: &[Received],
) -> Vec<Result<serde_json::Value, String>> {
    let items: Vec<serde_json::Value> = deliveries
        .iter()
        .map(|d| {
            serde_json::json!({
                "body": d.body,
                "headers": {
                    "webhook-id": d.header("webhook-id"),
                    "webhook-timestamp": d.header("webhook-timestamp"),
                    "webhook-signature": d.header("webhook-signature"),
                },
            })
        })
        .collect();
    let script = r#"
import json, sys
try:
    from standardwebhooks.webhooks import Webhook
except ImportError:
    print("MISSING"); sys.exit(0)
secret, items = json.load(sys.stdin)
wh = Webhook(secret)
out = []
for it in items:
    try:
        out.append({"ok": wh.verify(it["body"], it["headers"])})
    except Exception as e:
        out.append({"err": f"{type(e).__name__}: {e}"})
print(json.dumps(out))
"#;
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(serde_json::json!([secret, items]).to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().expect("python3 ends");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.starts_with("MISSING"),
        "the webhook tests verify signatures with the standardwebhooks package: python3 -m pip install standardwebhooks"
    );
    let v: Vec<serde_json::Value> = serde_json::from_str(text.trim()).expect("verifier output");
    v.into_iter()
        .map(|r| match r.get("ok") {
            Some(p) => Ok(p.clone()),
            None => Err(r["err"].as_str().unwrap_or("").to_string()),
        })
        .collect()
}
