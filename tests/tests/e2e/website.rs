//! The example website in a real browser: `verbund serve --demo --site examples/website`,
//! driven by playwright-core in Debian's Chromium (tests/browser/site.mjs). A story published
//! through the CLI appears on the site without a restart; a draft never does.

use std::path::Path;
use std::process::Command;

use verbund_tests::{TestApp, create_tokens, verbund_bin};

#[test]
fn the_website_shows_the_demo_content_and_newly_published_stories() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let browser_dir = repo.join("tests/browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").is_dir(),
        "tests/browser has no node_modules: run the tests with tests/run, which installs them"
    );
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let tokens = create_tokens(&data, &["editor"]);
    let site = repo.join("examples/website");
    let server = TestApp::builder()
        .data(&data)
        .demo()
        .site(&site)
        .search()
        .start();
    let token = &tokens["editor"];
    // The search index is built from the demo content at start.
    assert!(
        verbund_tests::wait_until(std::time::Duration::from_secs(30), || {
            reqwest::blocking::get(format!("{}/api/v1/search?q=Cloud", server.url))
                .is_ok_and(|r| r.status() == 200)
        }),
        "the search index was not built"
    );

    // A new story, created as a draft over the API; the CLI publishes it during the browser run.
    let client = reqwest::blocking::Client::new();
    let mut story = verbund_tests::story(4711);
    story["title"] = "Neu im Cluster: Datenwerkstatt Vogtland stellt sich vor".into();
    story["slug"] = "neu-im-cluster-datenwerkstatt-vogtland".into();
    let created: serde_json::Value = client
        .post(format!("{}/api/v1/manage/story", server.url))
        .bearer_auth(token)
        .json(&story)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let id = created["data"]["id"].as_str().unwrap().to_string();
    let mut draft = verbund_tests::story(4712);
    draft["title"] = "Entwurf: Dieser Text ist noch nicht freigegeben".into();
    draft["slug"] = "entwurf-noch-nicht-freigegeben".into();
    let res = client
        .post(format!("{}/api/v1/manage/story", server.url))
        .bearer_auth(token)
        .json(&draft)
        .send()
        .unwrap();
    assert_eq!(res.status(), 201);

    let publish = format!(
        "{} entry publish story {id} --url {} --token {token} >&2 && echo 'Neu im Cluster: Datenwerkstatt Vogtland stellt sich vor'",
        verbund_bin().display(),
        server.url
    );
    let screenshots = repo.join("target/screenshots");
    let status = Command::new("node")
        .arg("site.mjs")
        .current_dir(&browser_dir)
        .env("SITE_URL", format!("{}/", server.url))
        .env("SCREENSHOT_DIR", &screenshots)
        .env("PUBLISH_CMD", publish)
        // Lets site.mjs change a German original and expect the English page's outdated note.
        .env("VERBUND_TOKEN", token)
        .env(
            "DRAFT_TITLE",
            "Entwurf: Dieser Text ist noch nicht freigegeben",
        )
        .status()
        .expect("node runs (install Node.js)");
    assert!(
        status.success(),
        "the browser test failed; see its output above and {}",
        screenshots.display()
    );
    let shots = std::fs::read_dir(&screenshots)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "png"))
        })
        .count();
    assert!(
        shots >= 10,
        "expected a screenshot of every page, found {shots}"
    );
}
