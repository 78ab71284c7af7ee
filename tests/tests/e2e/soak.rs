//! Soak: readers and writers together for a bounded time (`VERBUND_SOAK_SECS`, default 10).
//! No request may fail, and the server's memory must not keep growing. Latencies are printed
//! per half (tests do not assert on time; a noisy machine would make that flaky).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use verbund_tests::{TestServer, create_token, story};

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn p99(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() * 99 / 100).copied().unwrap_or_default()
}

#[test]
fn readers_and_writers_together_get_no_errors_and_memory_stays_bounded() {
    let secs: u64 = std::env::var("VERBUND_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let token = create_token(&data, "editor", "never");
    let server = TestServer::start(&data, &["--demo"]);
    let pid = server.child.id();
    let url = server.url.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let errors = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let half = Duration::from_secs(secs) / 2;

    // Warm up, then take the baseline.
    for _ in 0..200 {
        let _ = reqwest::blocking::get(format!("{url}/api/v1/content/story?limit=20"));
    }
    let rss_start = rss_kib(pid);

    let readers: Vec<_> = (0..3)
        .map(|r| {
            let (url, stop, errors) = (url.clone(), stop.clone(), errors.clone());
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::new();
                let (mut first, mut second) = (Vec::new(), Vec::new());
                let paths = [
                    "/api/v1/content/story?limit=20",
                    "/api/v1/content/member?filter[state_region]=Sachsen",
                    "/api/v1/content/event?sort=starts_at",
                    "/api/v1/changes?limit=50",
                ];
                let mut i = r;
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let ok = client
                        .get(format!("{url}{}", paths[i % paths.len()]))
                        .send()
                        .is_ok_and(|res| res.status().is_success());
                    if !ok {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                    if started.elapsed() < half {
                        first.push(t.elapsed());
                    } else {
                        second.push(t.elapsed());
                    }
                    i += 1;
                }
                (first, second)
            })
        })
        .collect();
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (url, token, stop, errors) =
                (url.clone(), token.clone(), stop.clone(), errors.clone());
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::new();
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    let mut s = story(n);
                    s["slug"] = format!("dauerlauf-{w}-{n}").into();
                    let res = client
                        .post(format!("{url}/api/v1/manage/story"))
                        .bearer_auth(&token)
                        .json(&s)
                        .send();
                    let id = match res {
                        Ok(r) if r.status() == 201 => {
                            r.json::<serde_json::Value>().unwrap()["data"]["id"]
                                .as_str()
                                .unwrap()
                                .to_string()
                        }
                        _ => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                    };
                    let ok = client
                        .post(format!("{url}/api/v1/manage/story/{id}/transitions"))
                        .bearer_auth(&token)
                        .json(&serde_json::json!({"to": "published"}))
                        .send()
                        .is_ok_and(|r| r.status() == 200);
                    if !ok {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                    n += 1;
                }
                n
            })
        })
        .collect();

    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for r in readers {
        let (a, b) = r.join().unwrap();
        first.extend(a);
        second.extend(b);
    }
    let written: usize = writers.into_iter().map(|w| w.join().unwrap()).sum();
    let rss_end = rss_kib(pid);
    let reads = first.len() + second.len();
    println!(
        "soak {secs} s: {reads} reads, {written} stories written and published; read p99 {:?} (first half) / {:?} (second half); RSS {} → {} MiB",
        p99(first),
        p99(second),
        rss_start / 1024,
        rss_end / 1024
    );
    assert_eq!(errors.load(Ordering::Relaxed), 0, "requests failed");
    assert!(
        reads > 100 && written > 10,
        "{reads} reads, {written} writes"
    );
    // The data grows (new stories, their revisions in the page cache); the process may grow
    // with it, but not without bound.
    assert!(
        rss_end < rss_start + 128 * 1024,
        "RSS grew from {rss_start} KiB to {rss_end} KiB"
    );
}
