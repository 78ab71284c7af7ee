//! Security review findings at the HTTP edge, over the real server: CORS by route class (#16),
//! browser-hardening headers and a `--site` that serves neither hidden files nor files outside
//! its folder (#15).

use reqwest::Method;
use verbund_tests::{Api, Res, TestApp};

const EVIL: &str = "https://evil.example";
const SHOP: &str = "https://www.cluster-it.example";

fn preflight(api: &Api, path: &str, origin: &str, method: &str) -> Res {
    api.send(
        Method::OPTIONS,
        path,
        None,
        &[
            ("origin", origin),
            ("access-control-request-method", method),
            ("access-control-request-headers", "content-type"),
        ],
        None,
    )
}

fn allowed_origin(res: &Res) -> Option<String> {
    res.header("access-control-allow-origin")
        .map(str::to_string)
}

#[test]
fn cors_default_public_reads_from_anywhere_but_no_signups_or_management() {
    let server = TestApp::demo();
    let api = Api::of(&server);

    // Public read API: any website may read it.
    for path in [
        "/api/v1/content/story",
        "/api/v1/changes",
        "/api/v1/schemas",
        "/openapi.json",
    ] {
        let res = api.get_with(path, &[("origin", EVIL)]).expect(200);
        assert_eq!(allowed_origin(&res).as_deref(), Some(EVIL), "{path}");
        let pre = preflight(&api, path, EVIL, "GET");
        assert_eq!(allowed_origin(&pre).as_deref(), Some(EVIL), "{path}");
    }

    // Newsletter sign-up: no origin configured, so no website may drive it.
    let pre = preflight(&api, "/api/v1/newsletter/subscribe", EVIL, "POST");
    assert_eq!(
        allowed_origin(&pre),
        None,
        "sign-up preflight: {:?}",
        pre.headers
    );
    let res = api.get_with("/api/v1/newsletter/confirm?token=x", &[("origin", EVIL)]);
    assert_eq!(allowed_origin(&res), None);

    // Management, admin, import/export: never CORS.
    for (path, method) in [
        ("/api/v1/manage/story", "POST"),
        ("/api/v1/admin/tokens", "POST"),
        ("/api/v1/admin/backup", "GET"),
        ("/api/v1/import/story", "POST"),
        ("/api/v1/export/story", "GET"),
    ] {
        let pre = preflight(&api, path, EVIL, method);
        assert_eq!(allowed_origin(&pre), None, "{path}: {:?}", pre.headers);
        let res = api.get_with(path, &[("origin", EVIL)]);
        assert_eq!(allowed_origin(&res), None, "{path}");
    }
    server.stop();
}

#[test]
fn cors_with_configured_origin_allows_only_that_origin_for_reads_and_signups() {
    let tmp = tempfile::tempdir().unwrap();
    let server = TestApp::builder()
        .data(&tmp.path().join("data"))
        .demo()
        .cors_origin(SHOP)
        .start();
    let api = Api::of(&server);

    let res = api
        .get_with("/api/v1/content/story", &[("origin", SHOP)])
        .expect(200);
    assert_eq!(allowed_origin(&res).as_deref(), Some(SHOP));
    let res = api
        .get_with("/api/v1/content/story", &[("origin", EVIL)])
        .expect(200);
    assert_eq!(allowed_origin(&res), None);

    let pre = preflight(&api, "/api/v1/newsletter/subscribe", SHOP, "POST");
    assert_eq!(allowed_origin(&pre).as_deref(), Some(SHOP));
    let pre = preflight(&api, "/api/v1/newsletter/subscribe", EVIL, "POST");
    assert_eq!(allowed_origin(&pre), None);

    // The configured website still gets nothing on the management API.
    let pre = preflight(&api, "/api/v1/manage/story", SHOP, "POST");
    assert_eq!(allowed_origin(&pre), None);
    server.stop();
}

fn assert_hardened(res: &Res) {
    assert_eq!(res.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(res.header("x-frame-options"), Some("DENY"));
    assert!(res.header("referrer-policy").is_some());
    let csp = res.header("content-security-policy").unwrap_or("");
    assert!(csp.contains("frame-ancestors 'none'"), "csp: {csp}");
}

#[test]
fn site_serves_no_hidden_files_nor_files_outside_and_all_answers_are_hardened() {
    let tmp = tempfile::tempdir().unwrap();
    let site = tmp.path().join("site");
    std::fs::create_dir_all(site.join(".git")).unwrap();
    std::fs::create_dir_all(site.join("docs")).unwrap();
    std::fs::write(
        site.join("index.html"),
        "<!doctype html><h1>Willkommen</h1>",
    )
    .unwrap();
    std::fs::write(site.join("docs/index.html"), "<p>Dokumente</p>").unwrap();
    std::fs::write(site.join(".env"), "DB_PASSWORD=geheim").unwrap();
    std::fs::write(site.join(".git/config"), "[remote] url=geheim").unwrap();
    let outside = tmp.path().join("outside.txt");
    std::fs::write(&outside, "geheim ausserhalb").unwrap();
    std::os::unix::fs::symlink(&outside, site.join("link.txt")).unwrap();
    std::os::unix::fs::symlink(tmp.path(), site.join("up")).unwrap();

    let server = TestApp::builder()
        .data(&tmp.path().join("data"))
        .demo()
        .site(&site)
        .start();
    let api = Api::of(&server);

    let page = api.get("/", None).expect(200);
    assert!(page.text.contains("Willkommen"));
    assert!(
        page.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert_hardened(&page);
    let csp = page.header("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self'"), "csp: {csp}");
    api.get("/docs/", None).expect(200);

    for path in [
        "/.env",
        "/.git/config",
        "/%2eenv",
        "/docs/../.env",
        "/link.txt",
        "/up/outside.txt",
    ] {
        let res = api.get(path, None);
        assert_eq!(res.status, 404, "{path}: {}", res.text);
        assert!(!res.text.contains("geheim"), "{path} leaked: {}", res.text);
    }

    // A JSON answer of the API and the API's own HTML page carry the headers too.
    let json = api.get("/api/v1/content/story", None).expect(200);
    assert_hardened(&json);
    let confirm = api.get("/api/v1/newsletter/confirm?token=falsch", None);
    assert!(
        confirm
            .header("content-type")
            .is_some_and(|c| c.starts_with("text/html")),
        "{}: {}",
        confirm.status,
        confirm.text
    );
    assert_hardened(&confirm);
    let csp = confirm.header("content-security-policy").unwrap();
    assert!(csp.contains("default-src 'none'"), "csp: {csp}");
    server.stop();
}
