//! Shared helpers of Verbund's end-to-end tests: the real `verbund` binary, a server process
//! on a free port with a temporary data dir, and valid German test content.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use verbund_core::{ContentService, SchemaRegistry, StoreLocation};

pub mod app;
pub mod http;
pub mod receiver;
pub mod smtp;
pub use app::TestApp;
pub use http::{Api, Res, Served};
pub use receiver::{Answer, Received, Receiver, verify_with_standardwebhooks};
pub use smtp::SmtpServer;

/// The `verbund` binary of this workspace (built by `cargo test --workspace`).
pub fn verbund_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>/verbund
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target dir of the test executable");
    let bin = dir.join(format!("verbund{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run the tests with `cargo test --workspace`, which builds it",
        bin.display()
    );
    bin
}

/// A content service on a fresh data dir (or its PostgreSQL schema, see [`store_for`]) with
/// the repository's schemas.
pub fn open_service(dir: &Path) -> ContentService {
    let store = verbund_core::store::open(&store_for(dir)).expect("open the store");
    ContentService::new(store, Arc::new(repo_schemas()))
}

/// The PostgreSQL server the end-to-end tests run on: with `VERBUND_E2E_STORE=postgres`, the
/// one `VERBUND_TEST_POSTGRES` names (`tests/run` runs the suite once on sled and once on
/// PostgreSQL).
pub fn postgres_server() -> Option<String> {
    if std::env::var("VERBUND_E2E_STORE").as_deref() != Ok("postgres") {
        return None;
    }
    let url = std::env::var("VERBUND_TEST_POSTGRES").unwrap_or_default();
    assert!(
        !url.is_empty(),
        "VERBUND_E2E_STORE=postgres needs VERBUND_TEST_POSTGRES=postgres://… (tests/postgres/start prints one)"
    );
    Some(url)
}

/// The media backends the media tests run on: a directory, and an S3 bucket on the local S3
/// server that `tests/run` starts (`s3s-fs`, its data under `VERBUND_TEST_S3_ROOT`, endpoint
/// and keys in the `AWS_*` variables). Without that server the S3 pass is skipped, unless
/// `VERBUND_REQUIRE_S3=1` (as `tests/run` sets) makes its absence a failure.
pub fn media_backends(tmp: &Path) -> Vec<(&'static str, verbund_core::media::Blobs)> {
    let mut out = vec![(
        "dir",
        verbund_core::media::Blobs::dir(&tmp.join("media")).expect("media dir"),
    )];
    match std::env::var("VERBUND_TEST_S3_ROOT") {
        Ok(root) if !root.is_empty() => {
            // s3s-fs keeps a bucket as a directory under its root.
            let bucket = format!("verbund-{}", ulid::Ulid::new().to_string().to_lowercase());
            std::fs::create_dir_all(Path::new(&root).join(&bucket)).expect("bucket dir");
            out.push((
                "s3",
                verbund_core::media::Blobs::s3(&format!("s3://{bucket}")).expect("S3 media"),
            ));
        }
        _ => assert!(
            std::env::var("VERBUND_REQUIRE_S3").as_deref() != Ok("1"),
            "VERBUND_REQUIRE_S3=1 but no S3 server: set VERBUND_TEST_S3_ROOT and AWS_ENDPOINT (tests/run starts s3s-fs)"
        ),
    }
    out
}

/// The store of the data dir `data`: the dir itself on sled; on PostgreSQL a schema of its
/// own, made on first use and the same for every later use of this dir in this test process.
pub fn store_for(data: &Path) -> StoreLocation {
    static SCHEMAS: std::sync::OnceLock<std::sync::Mutex<HashMap<PathBuf, String>>> =
        std::sync::OnceLock::new();
    let Some(server) = postgres_server() else {
        return StoreLocation::Dir(data.to_path_buf());
    };
    let mut known = SCHEMAS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let url = known
        .entry(data.to_path_buf())
        .or_insert_with(|| verbund_core::store::scratch_schema(&server).expect("a scratch schema"));
    StoreLocation::Postgres(url.clone())
}

/// For a test of what only a data dir does (sled's lock, restoring into a data dir): true (and
/// a line saying why) when the suite runs on PostgreSQL, where the test does not apply.
pub fn sled_only(why: &str) -> bool {
    let pg = postgres_server().is_some();
    if pg {
        eprintln!("not on PostgreSQL: {why}");
    }
    pg
}

/// Points a `verbund` command at the store of `data` (sets `VERBUND_STORE` on PostgreSQL).
pub fn with_store<'c>(cmd: &'c mut Command, data: &Path) -> &'c mut Command {
    if let StoreLocation::Postgres(url) = store_for(data) {
        cmd.env("VERBUND_STORE", url);
    }
    cmd
}

/// The schemas in the repository's `schemas/` directory.
pub fn repo_schemas() -> SchemaRegistry {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    SchemaRegistry::load_dir(&dir).expect("repository schemas load")
}

/// A running `verbund serve` process on a free port; killed on drop.
pub struct TestServer {
    pub child: Child,
    pub url: String,
    pub data: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

impl TestServer {
    /// Starts the server with the demo content on a new temporary data dir.
    pub fn start_demo() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = tmp.path().join("data");
        let mut s = Self::start(&data, &["--demo"]);
        s._tmp = Some(tmp);
        s
    }

    /// Creates one token per role with `verbund token create` (they never expire), then starts
    /// the server with the demo content on a new temporary data dir. The tokens are keyed by
    /// role.
    pub fn start_demo_with_tokens(roles: &[&str]) -> (Self, HashMap<String, String>) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let data = tmp.path().join("data");
        let tokens = create_tokens(&data, roles);
        let mut s = Self::start(&data, &["--demo"]);
        s._tmp = Some(tmp);
        (s, tokens)
    }

    /// Starts the server on `data` with extra arguments and waits until it listens.
    pub fn start(data: &Path, extra: &[&str]) -> Self {
        Self::start_on(data, &store_for(data), extra)
    }

    /// Starts a node with the node dir `data` on the store at `store` (another node's, for
    /// several nodes on one database).
    pub fn start_on(data: &Path, store: &StoreLocation, extra: &[&str]) -> Self {
        let mut cmd = Command::new(verbund_bin());
        if let StoreLocation::Postgres(url) = store {
            cmd.env("VERBUND_STORE", url);
        }
        let mut child = cmd
            .arg("serve")
            .arg("--data")
            .arg(data)
            .args(["--listen", "127.0.0.1:0"])
            // Tests make many management calls quickly; the rate-limit test sets its own limit.
            .args(if extra.contains(&"--rate-limit") {
                &[][..]
            } else {
                &["--rate-limit", "10000"][..]
            })
            .args(extra)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn verbund serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("Verbund is serving ") {
                    let url = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .trim_end_matches('/');
                    let _ = tx.send(url.to_string());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("server printed its address");
        Self {
            child,
            url,
            data: data.to_path_buf(),
            _tmp: None,
        }
    }

    pub fn get(&self, path: &str) -> reqwest::blocking::Response {
        reqwest::blocking::get(format!("{}{path}", self.url)).expect("HTTP request")
    }

    pub fn get_json(&self, path: &str) -> (u16, Value) {
        let res = self.get(path);
        let status = res.status().as_u16();
        let body: Value = res.json().expect("JSON body");
        (status, body)
    }

    /// Sends SIGTERM-like stop (kill) and waits.
    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Creates an API token with `verbund token create` on a data dir no server is running on,
/// and returns it (the token is printed alone on stdout).
pub fn create_token(data: &Path, role: &str, expires: &str) -> String {
    let out = with_store(&mut Command::new(verbund_bin()), data)
        .args(["token", "create", "--data"])
        .arg(data)
        .args(["--role", role, "--expires", expires])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run verbund token create");
    assert!(
        out.status.success(),
        "verbund token create --role {role} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout)
        .expect("token is UTF-8")
        .trim()
        .to_string();
    assert!(token.starts_with("vb_"), "unexpected token {token:?}");
    token
}

/// One never-expiring token per role (see [`create_token`]), keyed by role.
pub fn create_tokens(data: &Path, roles: &[&str]) -> HashMap<String, String> {
    roles
        .iter()
        .map(|r| (r.to_string(), create_token(data, r, "never")))
        .collect()
}

/// A valid German story (fields only), unique by `n`.
pub fn story(n: usize) -> Value {
    json!({
        "kind": "best_practice",
        "title": format!("Praxisbericht Nummer {n}: Digitalisierung im Mittelstand"),
        "slug": format!("praxisbericht-{n}"),
        "teaser": "Wie ein Familienbetrieb aus Sachsen seine Auftragsabwicklung umgestellt hat.",
        "body": "## Ausgangslage\n\nDie Aufträge kamen per Fax, Telefon und E-Mail.\n\n## Ergebnis\n\nHeute läuft alles über ein Portal.",
        "topics": ["software-entwicklung", "cloud"]
    })
}

/// Percent-encodes a query parameter's value.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Waits until `f` returns true or the timeout passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// Runs the `verbund` CLI against the server at `url` with `token`: a private config dir, no
/// colour, no terminal input; `env` adds variables (e.g. `EDITOR`).
pub fn run_cli(
    config: &Path,
    url: &str,
    token: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    let mut cmd = Command::new(verbund_bin());
    cmd.args(args)
        .env("VERBUND_CONFIG_DIR", config)
        .env("VERBUND_URL", url)
        .env("VERBUND_TOKEN", token)
        .env("NO_COLOR", "1")
        .env_remove("VISUAL")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run verbund")
}

/// The standard output of a successful run; on failure a panic with the exit code and both
/// streams.
pub fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A plugin component built by `plugins/build` (`plugins/dist/NAME.wasm`); a clear panic when it
/// is missing.
pub fn plugin_component(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins/dist")
        .join(format!("{name}.wasm"));
    assert!(
        p.is_file(),
        "{} is missing: run plugins/build first (tests/run does)",
        p.display()
    );
    p
}

/// The directory of the built plugins, checked to hold `name` (for `serve --plugins-dir`).
pub fn plugins_dir_with(name: &str) -> String {
    let p = plugin_component(name);
    p.parent().unwrap_or(Path::new(".")).display().to_string()
}

/// The demo content `--demo` loads (`core/demo/TYPE.ndjson`), read from its files so that
/// tests can state exact counts.
pub mod demo {
    use serde_json::Value;

    /// Every demo entry of `ty`, as written in its file.
    pub fn entries(ty: &str) -> Vec<Value> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../core/demo")
            .join(format!("{ty}.ndjson"));
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("a demo line is JSON"))
            .collect()
    }

    /// The published demo entries of `ty` in `locale` (what the delivery API lists).
    pub fn published(ty: &str, locale: &str) -> Vec<Value> {
        entries(ty)
            .into_iter()
            .filter(|e| e["state"] == "published" && e["locale"].as_str().unwrap_or("de") == locale)
            .collect()
    }

    /// The public types of the demo (everything but subscribers).
    pub const PUBLIC_TYPES: [&str; 4] = ["story", "member", "event", "cooperation"];

    /// Published demo entries of the public types in every locale (the change feed's start).
    pub fn published_public() -> usize {
        PUBLIC_TYPES
            .iter()
            .flat_map(|t| entries(t))
            .filter(|e| e["state"] == "published")
            .count()
    }
}

/// After a crash: every acknowledged story write (id, title, published too?) is in `svc`, the
/// indexes are consistent and the change feed has no gap.
pub fn assert_acknowledged_survived(
    svc: &ContentService,
    acked: &[(String, String, bool)],
    round: usize,
) {
    for (id, title, published) in acked {
        let e = svc
            .get("story", id)
            .unwrap_or_else(|_| panic!("round {round}: acknowledged entry {id} is lost"));
        assert_eq!(&e.data["title"], title, "round {round}");
        if *published {
            assert!(
                svc.get_published("story", id, "de").unwrap().is_some(),
                "round {round}: the acknowledged publication of {id} is lost"
            );
        }
    }
    let problems = svc.check_integrity().unwrap();
    assert!(problems.is_empty(), "round {round}: {problems:#?}");
    let seqs: Vec<u64> = svc
        .store()
        .changes_since(0, usize::MAX)
        .unwrap()
        .iter()
        .map(|c| c.seq)
        .collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "round {round}: the change feed has a gap"
    );
}
