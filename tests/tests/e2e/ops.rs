//! What operators and abusive clients meet: limits, rate limiting, CORS, compression,
//! metrics, problem+json for every error, and a graceful stop.

use std::process::Command;

use verbund_tests::{TestApp, TestServer};

fn problem(res: reqwest::blocking::Response) -> (u16, serde_json::Value) {
    let status = res.status().as_u16();
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "application/problem+json",
        "status {status} is not problem+json"
    );
    (status, res.json().unwrap())
}

#[test]
fn malformed_requests_get_a_clear_4xx_never_a_500() {
    let server = TestApp::demo();
    let client = reqwest::blocking::Client::new();
    let url = |p: &str| format!("{}{p}", server.url);

    let (status, body) = problem(client.post(url("/healthz")).send().unwrap());
    assert_eq!(
        (status, body["code"].as_str().unwrap()),
        (405, "method_not_allowed")
    );

    // The server refuses an oversized body from its Content-Length, before reading it, and
    // closes that connection. A raw socket sends the headers only and reads the answer (an
    // HTTP client writing the whole body may see the connection reset instead).
    {
        use std::io::{Read, Write};
        let addr = server.url.trim_start_matches("http://").to_string();
        let mut sock = std::net::TcpStream::connect(&addr).unwrap();
        sock.set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        write!(
            sock,
            "POST /api/v1/manage/story HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            2 << 20
        )
        .unwrap();
        let mut answer = Vec::new();
        let _ = sock.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer);
        let status_line = answer.lines().next().unwrap_or("");
        assert!(
            status_line.contains(" 413 ") || status_line.contains(" 401 "),
            "{answer}"
        );
        assert!(answer.contains("application/problem+json"), "{answer}");
    }

    let (status, body) = problem(
        client
            .get(url("/api/v1/content/story/%FF%FE"))
            .send()
            .unwrap(),
    );
    assert_eq!(status, 400, "{body}");

    let (status, body) = problem(client.get(url("/gibt/es/nicht")).send().unwrap());
    assert_eq!((status, body["code"].as_str().unwrap()), (404, "not_found"));

    let (status, body) = problem(
        client
            .get(url("/api/v1/content/story?filter[topics][approx]=cloud"))
            .send()
            .unwrap(),
    );
    assert_eq!(
        (status, body["code"].as_str().unwrap()),
        (400, "unknown_operator")
    );
    assert!(body["detail"].as_str().unwrap().contains("approx"));

    // The server is still answering normally afterwards.
    assert_eq!(
        client
            .get(url("/api/v1/content/story"))
            .send()
            .unwrap()
            .status(),
        200
    );
}

#[test]
fn token_guessing_is_rate_limited_with_retry_after() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestServer::start(&tmp.path().join("data"), &["--demo", "--rate-limit", "5"]);
    let client = reqwest::blocking::Client::new();
    let mut limited = None;
    for i in 0..400 {
        let res = client
            .get(format!("{}/api/v1/manage/story", server.url))
            .bearer_auth(format!("vb_{i:08x}_geraten"))
            .send()
            .unwrap();
        if res.status() == 429 {
            limited = Some(res);
            break;
        }
        assert_eq!(res.status(), 401);
    }
    let res = limited.expect("400 guesses in a row were never rate limited");
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    let (_, body) = problem(res);
    assert_eq!(body["code"], "rate_limited");
    // Public reads are not affected.
    assert_eq!(server.get("/api/v1/content/story").status(), 200);
}

#[test]
fn websites_get_cors_compression_and_metrics() {
    let server = TestApp::demo();
    let client = reqwest::blocking::Client::new();
    let res = client
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/v1/content/story", server.url),
        )
        .header("origin", "https://www.cluster-it.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "if-none-match")
        .send()
        .unwrap();
    assert!(res.status().is_success());
    // Public reads: any origin is allowed (echoed back, since the policy depends on the route).
    assert_eq!(
        res.headers()["access-control-allow-origin"],
        "https://www.cluster-it.example"
    );

    let res = client
        .get(format!("{}/api/v1/content/story", server.url))
        .header("accept-encoding", "gzip")
        .header("origin", "https://www.cluster-it.example")
        .send()
        .unwrap();
    assert_eq!(res.headers()["content-encoding"], "gzip");
    let exposed = res.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(exposed.contains("etag"), "{exposed}");

    // A method of the client's invention does not become a series of its own.
    for _ in 0..2 {
        client
            .request(
                reqwest::Method::from_bytes(b"BREW").unwrap(),
                format!("{}/api/v1/content/story", server.url),
            )
            .send()
            .unwrap();
    }
    let metrics = server.get("/metrics").text().unwrap();
    assert!(
        metrics.contains("verbund_http_requests_total{method=\"GET\",route=\"/api/v1/content/{type}\",status=\"200\"} 1"),
        "{metrics}"
    );
    assert!(!metrics.contains("BREW"), "{metrics}");
    assert!(
        metrics.contains("verbund_http_requests_total{method=\"other\",route=\"/api/v1/content/{type}\",status=\"405\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("verbund_entries{type=\"story\",scope=\"published\"}"));

    let (status, doc) = server.get_json("/openapi.json");
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    // One path per content type, as loaded from schemas/ at start-up.
    for path in [
        "/api/v1/content/story",
        "/api/v1/content/member/{id_or_slug}",
        "/api/v1/manage/subscriber/{id}",
        "/api/v1/admin/audit",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is not documented");
    }
    assert!(doc["paths"].get("/api/v1/content/subscriber").is_none());
    let public = doc["components"]["schemas"]["MemberPublic"].to_string();
    assert!(
        !public.contains("contact_email"),
        "the public member schema names a personal field"
    );
}

#[test]
fn sigterm_stops_the_server_cleanly_and_keeps_the_data() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = TestServer::start(&data, &["--demo"]);
    let (_, before) = server.get_json("/api/v1/content/story?limit=100");
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = server.child.wait().unwrap();
    assert!(
        status.success(),
        "the server did not stop cleanly: {status}"
    );
    drop(server);
    let server = TestServer::start(&data, &[]);
    let (_, after) = server.get_json("/api/v1/content/story?limit=100");
    assert_eq!(before["data"], after["data"]);
}

/// An unauthenticated request to the management API with `headers`.
fn manage(api: &verbund_tests::Api, headers: &[(&str, &str)]) -> verbund_tests::Res {
    api.send(
        reqwest::Method::GET,
        "/api/v1/manage/story",
        None,
        headers,
        None,
    )
}

/// Sends unauthenticated management requests through `api` until one is rate limited;
/// returns how many were answered before.
fn requests_until_limited(api: &verbund_tests::Api, headers: &[(&str, &str)]) -> usize {
    for answered in 0..50 {
        let res = manage(api, headers);
        if res.status == 429 {
            res.expect_problem(429, "rate_limited");
            return answered;
        }
        assert_eq!(res.status, 401, "{}", res.text);
    }
    panic!("50 requests in a row were never rate limited");
}

#[test]
fn rate_limits_key_by_the_forwarded_client_only_behind_a_trusted_proxy() {
    let app = TestApp::builder()
        .rate_limit(1)
        .trusted_proxies(&["10.0.0.0/8"])
        .start();
    let proxy = app.router().from_peer("10.0.0.2:40000".parse().unwrap());
    let xff = |ip: &'static str| [("x-forwarded-for", ip)];
    // The burst is five requests per client.
    assert_eq!(requests_until_limited(&proxy, &xff("203.0.113.7")), 5);
    // Another client behind the same proxy has its own bucket ...
    manage(&proxy, &xff("203.0.113.8")).expect(401);
    // ... also when the proxy says so with RFC 7239 `Forwarded`.
    manage(
        &proxy,
        &[("forwarded", "for=\"[2001:db8::7]:4711\";proto=https")],
    )
    .expect(401);
    // A client that prepends a fake address to the proxy's header gains nothing.
    manage(&proxy, &xff("198.51.100.99, 203.0.113.7")).expect_problem(429, "rate_limited");

    // From a peer that is not a trusted proxy the header is ignored: one bucket per peer.
    let direct = app
        .router()
        .from_peer("198.51.100.1:50000".parse().unwrap());
    assert_eq!(requests_until_limited(&direct, &xff("203.0.113.20")), 5);
    manage(&direct, &xff("203.0.113.21")).expect_problem(429, "rate_limited");
    // Over a real socket from 127.0.0.1 (not trusted here) the same holds.
    let socket = app.api();
    assert_eq!(requests_until_limited(&socket, &xff("203.0.113.30")), 5);
    manage(&socket, &xff("203.0.113.31")).expect_problem(429, "rate_limited");
}
