//! Crashes with several nodes on PostgreSQL: a node killed with SIGKILL while both nodes take
//! writes, and the database itself stopped without a checkpoint (`pg_ctl stop -m immediate`)
//! while a node takes writes. Every acknowledged write must survive, indexes and the change
//! feed must stay consistent, and the nodes must recover by themselves; while the database is
//! gone the answer is a 503 with `Retry-After`, never a 500 or a hang.
//!
//! The test database runs with fsync off (`FAST=1`): these tests kill processes, not the
//! machine, so what PostgreSQL wrote before it died is in the operating system's cache.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use verbund_core::{ContentService, StoreLocation};
use verbund_tests::{TestApp, TestServer, repo_schemas, story, wait_until};

use crate::cluster::OwnServer;

/// How many times a node (or the database) is killed; `VERBUND_CRASH_ROUNDS` sets both.
fn rounds(default: usize) -> usize {
    std::env::var("VERBUND_CRASH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A write the API acknowledged: (id, title, published too?).
type Acked = (String, String, bool);

/// What the writers saw: acknowledged writes, and every answer that is not allowed.
#[derive(Default)]
struct Seen {
    acked: Vec<Acked>,
    /// 503 answers (each with `Retry-After`).
    unavailable: usize,
    /// Answers a client must never get: 500s, a 503 without `Retry-After`, hangs.
    wrong: Vec<String>,
}

/// Writes stories to `url` until `stop` (or, with `until_error`, until the node is gone);
/// every third one is published too.
fn writer(
    url: String,
    token: String,
    tag: String,
    seen: Arc<Mutex<Seen>>,
    stop: Arc<AtomicBool>,
    until_error: bool,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        let mut n = 0usize;
        while !stop.load(Ordering::Relaxed) {
            n += 1;
            let title = format!("{tag}, Nummer {n}");
            let mut s = story(n);
            s["title"] = title.clone().into();
            s["slug"] = format!("{}-{n}", tag.to_lowercase().replace([' ', ','], "-")).into();
            let res = client
                .post(format!("{url}/api/v1/manage/story"))
                .bearer_auth(&token)
                .json(&s)
                .send();
            let res = match res {
                Ok(r) => r,
                Err(e) if until_error => {
                    let _ = e;
                    return;
                }
                Err(e) => {
                    seen.lock().unwrap().wrong.push(format!("no answer: {e}"));
                    return;
                }
            };
            let status = res.status().as_u16();
            match status {
                201 => {}
                503 if res.headers().contains_key("retry-after") => {
                    seen.lock().unwrap().unavailable += 1;
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
                _ if until_error && status >= 500 => return,
                _ => {
                    let body = res.text().unwrap_or_default();
                    seen.lock().unwrap().wrong.push(format!("{status}: {body}"));
                    return;
                }
            }
            let Ok(body) = res.json::<serde_json::Value>() else {
                if until_error {
                    return;
                }
                continue;
            };
            let id = body["data"]["id"].as_str().unwrap().to_string();
            let mut published = false;
            if n % 3 == 0
                && let Ok(r) = client
                    .post(format!("{url}/api/v1/manage/story/{id}/transitions"))
                    .bearer_auth(&token)
                    .json(&serde_json::json!({"to": "published"}))
                    .send()
            {
                published = r.status() == 200;
            }
            seen.lock().unwrap().acked.push((id, title, published));
        }
    })
}

/// Every acknowledged write is in the store, the indexes are consistent and the change feed
/// has no gap.
fn assert_consistent(store: &StoreLocation, acked: &[Acked], round: usize) {
    let svc = ContentService::new(
        verbund_core::store::open(store).unwrap(),
        Arc::new(repo_schemas()),
    );
    verbund_tests::assert_acknowledged_survived(&svc, acked, round);
}

/// 150–550 ms, different each round.
fn jitter(round: usize) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos() as usize;
    Duration::from_millis(150 + ((nanos ^ round.wrapping_mul(7919)) % 400) as u64)
}

#[test]
fn a_node_killed_while_two_nodes_take_writes_loses_no_acknowledged_write() {
    let Some(_) = verbund_tests::postgres_server() else {
        eprintln!(
            "several nodes need PostgreSQL: run with VERBUND_E2E_STORE=postgres (tests/run does)"
        );
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (tmp.path().join("knoten-a"), tmp.path().join("knoten-b"));
    let store = verbund_tests::store_for(&a_dir);
    let token = verbund_tests::create_token(&a_dir, "editor", "never");
    std::fs::create_dir_all(&b_dir).unwrap();
    std::fs::copy(a_dir.join("verbund.key"), b_dir.join("verbund.key")).unwrap();
    let b = TestServer::start_on(&b_dir, &store, &[]);
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let mut acked_by_b_after_kills = 0;
    for round in 0..rounds(20) {
        let a = TestServer::start_on(&a_dir, &store, &[]);
        let stop = Arc::new(AtomicBool::new(false));
        let to_a: Vec<_> = (0..2)
            .map(|w| {
                let tag = format!("Runde {round} Knoten A Schreiber {w}");
                writer(
                    a.url.clone(),
                    token.clone(),
                    tag,
                    seen.clone(),
                    stop.clone(),
                    true,
                )
            })
            .collect();
        let to_b: Vec<_> = (0..2)
            .map(|w| {
                let tag = format!("Runde {round} Knoten B Schreiber {w}");
                writer(
                    b.url.clone(),
                    token.clone(),
                    tag,
                    seen.clone(),
                    stop.clone(),
                    false,
                )
            })
            .collect();
        std::thread::sleep(jitter(round));
        a.stop(); // SIGKILL
        for w in to_a {
            w.join().unwrap();
        }
        // B goes on taking writes while A is gone.
        let before = seen.lock().unwrap().acked.len();
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, Ordering::Relaxed);
        for w in to_b {
            w.join().unwrap();
        }
        let seen = seen.lock().unwrap();
        acked_by_b_after_kills += seen.acked.len() - before;
        assert!(
            seen.wrong.is_empty(),
            "round {round}: node B answered wrongly: {:?}",
            seen.wrong
        );
        assert_consistent(&store, &seen.acked, round);
    }
    eprintln!(
        "{} writes acknowledged over {} kills of node A, {acked_by_b_after_kills} of them by B while A was down",
        seen.lock().unwrap().acked.len(),
        rounds(20)
    );
    assert!(
        acked_by_b_after_kills >= rounds(20),
        "node B took too few writes while A was down: {acked_by_b_after_kills}"
    );
    // After all that, B still serves what A wrote.
    let acked = seen.lock().unwrap().acked.clone();
    let (id, title, _) = acked.first().unwrap();
    let res = reqwest::blocking::Client::new()
        .get(format!("{}/api/v1/manage/story/{id}", b.url))
        .bearer_auth(&token)
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().unwrap();
    assert_eq!(&body["data"]["title"], title);
}

#[test]
fn postgres_stopped_immediately_during_writes_loses_no_acknowledged_write_and_the_node_recovers() {
    if verbund_tests::postgres_server().is_none() {
        eprintln!("needs PostgreSQL: run with VERBUND_E2E_STORE=postgres (tests/run does)");
        return;
    }
    let pg = OwnServer::start();
    let store = StoreLocation::Postgres(pg.url.clone());
    let app = TestApp::builder()
        .store(store.clone())
        .no_plugins()
        .tokens(&["editor"])
        .start();
    let token = app.token("editor").to_string();
    let seen: Arc<Mutex<Seen>> = Arc::default();
    for round in 0..rounds(10) {
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..3)
            .map(|w| {
                let tag = format!("Runde {round} Schreiber {w}");
                writer(
                    app.url.clone(),
                    token.clone(),
                    tag,
                    seen.clone(),
                    stop.clone(),
                    false,
                )
            })
            .collect();
        std::thread::sleep(jitter(round));
        let unavailable_before = seen.lock().unwrap().unavailable;
        pg.crash();
        std::thread::sleep(Duration::from_millis(500));
        let unavailable_while_down = seen.lock().unwrap().unavailable - unavailable_before;
        pg.restart();
        // The node takes writes again without a restart.
        let acked_at_restart = seen.lock().unwrap().acked.len();
        let started = Instant::now();
        assert!(
            wait_until(Duration::from_secs(20), || seen.lock().unwrap().acked.len()
                > acked_at_restart + 3),
            "round {round}: the node took no writes after the database came back"
        );
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().unwrap();
        }
        let seen = seen.lock().unwrap();
        assert!(
            seen.wrong.is_empty(),
            "round {round}: wrong answers: {:?}",
            seen.wrong
        );
        assert!(
            unavailable_while_down > 0,
            "round {round}: no 503 while the database was down"
        );
        eprintln!(
            "round {round}: {unavailable_while_down} × 503 while down, writes again after {:?}",
            started.elapsed()
        );
        assert_consistent(&store, &seen.acked, round);
    }
}
