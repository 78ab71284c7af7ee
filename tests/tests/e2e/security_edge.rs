//! Security review findings about the server's resources, over the real server: half-open
//! connections (#7, Slowloris) and expensive anonymous queries (#9).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use verbund_tests::{Api, TestApp};

fn connect(server: &TestApp) -> TcpStream {
    let addr = server.url.trim_start_matches("http://");
    let s = TcpStream::connect(addr).expect("connect");
    // Generous: only reached if the server never closes the connection (the defect).
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// Reads until the server closes the connection; `None` if it did not close it in time.
fn read_until_closed(s: &mut TcpStream) -> Option<String> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Some(String::from_utf8_lossy(&out).into_owned()),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Some(String::from_utf8_lossy(&out).into_owned());
            }
            Err(_) => return None,
        }
    }
}

#[test]
fn half_open_connections_are_closed_and_capped() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestApp::builder()
        .data(&tmp.path().join("data"))
        .demo()
        .header_timeout(2)
        .max_connections(40)
        .start();

    // Slowloris: 40 connections that never finish their request headers.
    let mut slow: Vec<TcpStream> = (0..40)
        .map(|_| {
            let mut s = connect(&server);
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: verbund\r\nX-Langsam: ")
                .unwrap();
            s
        })
        .collect();

    // One more connection is refused at once with a problem, not left hanging.
    let mut extra = connect(&server);
    extra
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: verbund\r\n\r\n")
        .unwrap();
    let answer = read_until_closed(&mut extra).expect("the refused connection is closed");
    assert!(
        answer.starts_with("HTTP/1.1 503"),
        "beyond the cap: {answer:?}"
    );
    assert!(answer.contains("too_many_connections"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1"),
        "{answer}"
    );

    // The server closes every connection whose headers did not arrive in time.
    for (i, s) in slow.iter_mut().enumerate() {
        let rest = read_until_closed(s);
        assert!(rest.is_some(), "slow connection {i} was never closed");
        assert!(
            !rest.unwrap().contains("200 OK"),
            "an incomplete request got an answer"
        );
    }

    // The slots are free again: ordinary clients are served.
    let api = Api::of(&server);
    api.get("/healthz", None).expect(200);

    // An idle keep-alive connection is closed after the same timeout; until then it serves.
    let mut idle = connect(&server);
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: verbund\r\n\r\n")
        .unwrap();
    let rest = read_until_closed(&mut idle).expect("an idle connection is closed");
    assert!(rest.starts_with("HTTP/1.1 200"), "{rest:?}");
    assert!(rest.ends_with("ok\n"), "{rest:?}");
}

#[test]
fn serve_refuses_connection_settings_that_cannot_work() {
    let out = std::process::Command::new(verbund_tests::verbund_bin())
        .args(["serve", "--max-connections", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("max-connections"), "{err}");
}

#[test]
fn anonymous_queries_are_bounded_with_errors_that_name_the_limit() {
    let server = TestApp::demo();
    let api = Api::of(&server);

    // The attack: thousands of `in` values.
    let many: Vec<String> = (0..2000).map(|i| format!("thema-{i}")).collect();
    let res = api.get(
        &format!(
            "/api/v1/content/story?filter[topics][in]={}",
            many[..400].join(",")
        ),
        None,
    );
    let res = res.expect(400);
    assert_eq!(res.body["code"], "query_too_large", "{}", res.text);
    assert!(res.text.contains("at most 100"), "{}", res.text);
    let res = api.get(
        &format!(
            "/api/v1/content/story?filter[topics][in]={}",
            many.join(",")
        ),
        None,
    );
    let res = res.expect(400);
    assert_eq!(res.body["code"], "query_too_large");
    assert!(res.text.contains("4096 are allowed"), "{}", res.text);

    // Within the bound, `in` still finds what it should: 99 unknown topics and one real one
    // match what the real one matches.
    let cloud = api
        .get("/api/v1/content/story?filter[topics]=cloud&limit=100", None)
        .expect(200);
    let mut values: Vec<String> = (0..99).map(|i| format!("t{i}")).collect();
    values.push("cloud".into());
    let within = api
        .get(
            &format!(
                "/api/v1/content/story?filter[topics][in]={}&limit=100",
                values.join(",")
            ),
            None,
        )
        .expect(200);
    assert!(cloud.body["meta"]["total"].as_u64().unwrap() > 0);
    assert_eq!(within.body["meta"]["total"], cloud.body["meta"]["total"]);
    assert_eq!(within.body["data"], cloud.body["data"]);

    // Too many filters, sort keys or includes.
    let filters: String = (0..17)
        .map(|_| "filter[kind][ne]=news")
        .collect::<Vec<_>>()
        .join("&");
    let res = api.get(&format!("/api/v1/content/story?{filters}"), None);
    let res = res.expect(400);
    assert!(res.text.contains("at most 16 filters"), "{}", res.text);
    let res = api.get(
        "/api/v1/content/story?sort=title,-title,kind,-kind,published_at",
        None,
    );
    let res = res.expect(400);
    assert!(res.text.contains("at most 4 sort keys"), "{}", res.text);

    // The server is still answering everyone.
    api.get("/healthz", None).expect(200);
}
