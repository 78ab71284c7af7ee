//! Full-text search end to end: a publication is found within a second, a draft and a personal
//! field never are, unpublishing and deleting take the text out of the index files (and the
//! audit log says so), German variants (umlauts, ß, stems, compounds, typos, prefixes) find
//! the same story, facets count what the hits hold, malformed queries are a 400, and a server
//! killed with SIGKILL catches up from where its index was.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use verbund_tests::{Api, TestApp, TestServer, create_tokens, ok, run_cli, urlencode, wait_until};

fn search(api: &Api, query: &str) -> Value {
    let res = api.get(&format!("/api/v1/search?{query}"), None);
    assert_eq!(res.status, 200, "{query}: {}", res.body);
    res.body
}

fn q(text: &str) -> String {
    format!("q={}", urlencode(text))
}

fn ids(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_string())
        .collect()
}

/// Waits until the node's index exists (built at start).
fn ready(api: &Api, admin: &str) {
    assert!(
        wait_until(Duration::from_secs(30), || {
            let s = api.get("/api/v1/admin/search", Some(admin));
            s.status == 200 && s.body["data"]["ready"] == true
        }),
        "the search index was not built"
    );
}

/// Whether any file under `dir` contains `needle`.
fn files_contain(dir: &Path, needle: &str) -> bool {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p)
                && bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
            {
                return true;
            }
        }
    }
    false
}

fn story(title: &str, slug: &str, teaser: &str, body: &str, topics: &[&str]) -> Value {
    json!({
        "kind": "best_practice",
        "title": title,
        "slug": slug,
        "teaser": teaser,
        "body": body,
        "topics": topics,
    })
}

fn publish(api: &Api, admin: &str, ty: &str, fields: &Value) -> String {
    let id = api.create(admin, ty, fields)["id"]
        .as_str()
        .unwrap()
        .to_string();
    api.transition(admin, ty, &id, "published");
    id
}

#[test]
fn publications_are_found_within_a_second_drafts_and_personal_fields_never_and_removal_is_physical()
{
    let app = TestApp::builder()
        .search()
        .tokens(&["admin", "editor"])
        .start();
    let api = Api::of(&app);
    let admin = &app.tokens["admin"];
    ready(&api, admin);

    // A draft is not found, in the public search; the editors' search shows it as a draft.
    let id = api.create(
        admin,
        "story",
        &story(
            "Quarkkeulchen im Rechenzentrum",
            "quarkkeulchen",
            "Wie eine Kantine in Halle ihre Bestellungen digitalisiert hat.",
            "Die **Quarkkeulchen** kommen jetzt per App.",
            &["cloud"],
        ),
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(search(&api, &q("Quarkkeulchen"))["meta"]["total"], 0);
    let editors = api
        .get(
            &format!("/api/v1/manage/search?{}", q("Quarkkeulchen")),
            Some(&app.tokens["editor"]),
        )
        .expect(200);
    assert_eq!(ids(&editors.body), [id.as_str()]);
    assert_eq!(editors.body["data"][0]["state"], "draft");
    assert_eq!(
        api.get(
            &format!("/api/v1/manage/search?{}", q("Quarkkeulchen")),
            None
        )
        .status,
        401
    );
    let index_dir = app.data.join("search");
    assert!(!files_contain(&index_dir, "Quarkkeulchen"));

    // Published: found within a second, with highlights.
    api.transition(admin, "story", &id, "published");
    let published = Instant::now();
    let found = wait_until(Duration::from_secs(1), || {
        ids(&search(&api, &q("Quarkkeulchen"))) == [id.clone()]
    });
    assert!(
        found,
        "not found {} ms after the publication",
        published.elapsed().as_millis()
    );
    let hit = &search(&api, &q("Quarkkeulchen"))["data"][0];
    assert_eq!(
        hit["title_html"],
        "<mark>Quarkkeulchen</mark> im Rechenzentrum"
    );
    assert!(
        hit["snippet"]
            .as_str()
            .unwrap()
            .contains("<mark>Quarkkeulchen</mark>"),
        "{hit}"
    );
    assert_eq!(hit["path"], "/de/geschichten/quarkkeulchen");
    assert!(files_contain(&index_dir, "Quarkkeulchen"));

    // A member's personal fields are never found (the public fields are).
    let member = publish(
        &api,
        admin,
        "member",
        &json!({
            "name": "Zwiebelturm Software GmbH",
            "slug": "zwiebelturm-software",
            "legal_form": "GmbH",
            "city": "Halle (Saale)",
            "state_region": "Sachsen-Anhalt",
            "services": ["cloud"],
            "member_since": "2021-03-01",
            "contact_name": "Leopoldine Kreuzschnabel",
            "contact_email": "leopoldine@zwiebelturm.example",
        }),
    );
    assert!(wait_until(Duration::from_secs(5), || {
        ids(&search(&api, &q("Zwiebelturm"))) == [member.clone()]
    }));
    assert_eq!(search(&api, &q("Kreuzschnabel"))["meta"]["total"], 0);
    assert_eq!(search(&api, &q("Leopoldine"))["meta"]["total"], 0);
    let editors = api
        .get(
            &format!("/api/v1/manage/search?{}", q("Kreuzschnabel")),
            Some(admin),
        )
        .expect(200);
    assert_eq!(editors.body["data"].as_array().unwrap().len(), 0);
    assert!(!files_contain(&index_dir, "Kreuzschnabel"));

    // Archived (unpublished): gone from the results and from the index files, and the
    // audit log records the purge.
    api.transition(admin, "story", &id, "archived");
    assert!(wait_until(Duration::from_secs(5), || {
        search(&api, &q("Quarkkeulchen"))["meta"]["total"] == 0
    }));
    assert!(
        wait_until(Duration::from_secs(5), || !files_contain(
            &index_dir,
            "Quarkkeulchen"
        )),
        "the text of an unpublished story is still in the index files"
    );
    // The purge is recorded right after the old files are collected: wait for it too.
    let purges = || {
        let audit = api.get("/api/v1/admin/audit", Some(admin)).expect(200);
        let n = audit.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["action"] == "search.purge" && r["id"] == id.as_str())
            .count();
        (n, audit.body)
    };
    assert!(
        wait_until(Duration::from_secs(5), || purges().0 >= 1),
        "no search.purge audit record: {}",
        purges().1
    );
    assert_eq!(purges().0, 1, "{}", purges().1);

    // Published again, then deleted: the same.
    api.transition(admin, "story", &id, "published");
    assert!(wait_until(Duration::from_secs(5), || {
        search(&api, &q("Quarkkeulchen"))["meta"]["total"] == 1
    }));
    let version = api.version(admin, "story", &id);
    api.send(
        reqwest::Method::DELETE,
        &format!("/api/v1/manage/story/{id}"),
        Some(admin),
        &[("if-match", &version)],
        None,
    )
    .expect(204);
    assert!(wait_until(Duration::from_secs(5), || {
        search(&api, &q("Quarkkeulchen"))["meta"]["total"] == 0
            && !files_contain(&index_dir, "Quarkkeulchen")
    }));
}

#[test]
fn german_spellings_stems_compounds_typos_and_prefixes_find_the_same_story() {
    let app = TestApp::builder().search().tokens(&["admin"]).start();
    let api = Api::of(&app);
    let admin = &app.tokens["admin"];
    ready(&api, admin);
    let target = publish(
        &api,
        admin,
        "story",
        &story(
            "Softwareentwicklung bei Müller in der Großen Straße",
            "mueller-softwareentwicklung",
            "Die Migrationen der Warenwirtschaft liefen über drei Wochenenden.",
            "Die Firma Müller aus Merseburg hat ihre Fertigungsplanung erneuert.",
            &["software-entwicklung"],
        ),
    );
    let other = publish(
        &api,
        admin,
        "story",
        &story(
            "Ein Tag im Rechenzentrum",
            "tag-im-rechenzentrum",
            "Wie Server gewartet werden.",
            "Kühlung, Strom und Wartung.",
            &["cloud"],
        ),
    );
    assert!(wait_until(Duration::from_secs(5), || {
        search(&api, &q("Rechenzentrum"))["meta"]["total"] == 1
    }));
    for query in [
        "Müller",
        "Mueller",
        "MÜLLER",
        "Straße",
        "Strasse",
        "grosse strasse",
        "Softwareentwicklung",
        "Entwicklung",
        "Software",
        "Planung",
        "Migration",
        "Migrationen",
        "Wochenende",
        "Merseburk",
        "Softwareentwi",
        "\"Großen Straße\"",
        "Müller Merseburg",
    ] {
        let body = search(&api, &q(query));
        assert_eq!(ids(&body), [target.as_str()], "{query:?} → {body}");
    }
    // Ranking: a word in the title ranks above the same word in the body only.
    let body = search(&api, &q("Rechenzentrum Wartung"));
    assert_eq!(ids(&body), [other.as_str()]);
    // English is analysed as English: "migrations" finds "migration" in an English text.
    let en = api.create(
        admin,
        "story",
        &json!({"translation_of": target, "locale": "en", "slug": "mueller-software-development",
                "title": "Software development at Müller", "teaser": "The migrations ran over three weekends.",
                "body": "Müller from Merseburg renewed its production planning."}),
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    api.transition(admin, "story", &en, "published");
    assert!(wait_until(Duration::from_secs(5), || {
        ids(&search(&api, &format!("{}&locale=en", q("migration")))) == [en.clone()]
    }));
    assert_eq!(
        ids(&search(&api, &format!("{}&locale=de", q("Migration")))),
        [target.as_str()]
    );
    // A phrase is a phrase: the words in another order do not match it.
    assert_eq!(search(&api, &q("\"Straße Großen\""))["meta"]["total"], 0);
    // Stop words keep their place: the phrase with them matches, the words without them not.
    assert_eq!(
        ids(&search(&api, &q("\"Müller in der Großen Straße\""))),
        [target.as_str()]
    );
    assert_eq!(search(&api, &q("\"Müller Großen\""))["meta"]["total"], 0);
}

#[test]
fn facets_count_the_hits_filters_narrow_them_and_pages_follow_the_cursor() {
    let app = TestApp::builder().search().tokens(&["admin"]).start();
    let api = Api::of(&app);
    let admin = &app.tokens["admin"];
    ready(&api, admin);
    let topics = [
        &["cloud", "datenschutz"][..],
        &["cloud"],
        &["datenschutz"],
        &["cloud", "kuenstliche-intelligenz"],
    ];
    for (i, t) in topics.iter().enumerate() {
        publish(
            &api,
            admin,
            "story",
            &story(
                &format!("Kaltmamsell Bericht {i}"),
                &format!("kaltmamsell-{i}"),
                "Ein Bericht aus der Praxis.",
                "Kaltmamsell und mehr.",
                t,
            ),
        );
    }
    publish(
        &api,
        admin,
        "member",
        &json!({"name": "Kaltmamsell Digital GmbH", "slug": "kaltmamsell-digital", "legal_form": "GmbH",
                "city": "Erfurt", "state_region": "Thüringen", "services": ["cloud"], "member_since": "2020-01-01"}),
    );
    assert!(wait_until(Duration::from_secs(5), || {
        search(&api, &q("Kaltmamsell"))["meta"]["total"] == 5
    }));
    let body = search(&api, &q("Kaltmamsell"));
    let facets = &body["meta"]["facets"];
    assert_eq!(
        facets["type"],
        json!([{"value": "story", "count": 4}, {"value": "member", "count": 1}])
    );
    assert_eq!(
        facets["topics"],
        json!([{"value": "cloud", "count": 3}, {"value": "datenschutz", "count": 2}, {"value": "kuenstliche-intelligenz", "count": 1}])
    );
    assert_eq!(
        facets["state_region"],
        json!([{"value": "Thüringen", "count": 1}])
    );
    // Filters narrow the hits and the counts.
    let body = search(
        &api,
        &format!("{}&filter[topics]=datenschutz", q("Kaltmamsell")),
    );
    assert_eq!(body["meta"]["total"], 2);
    assert_eq!(
        body["meta"]["facets"]["type"],
        json!([{"value": "story", "count": 2}])
    );
    let body = search(
        &api,
        &format!(
            "{}&filter[topics]=kuenstliche-intelligenz,datenschutz",
            q("Kaltmamsell")
        ),
    );
    assert_eq!(body["meta"]["total"], 3);
    assert_eq!(
        search(&api, &format!("{}&type=member", q("Kaltmamsell")))["meta"]["total"],
        1
    );
    // Pages of two: every hit once, in the cursor's order.
    let mut seen = Vec::new();
    let mut url = format!("{}&limit=2", q("Kaltmamsell"));
    loop {
        let page = search(&api, &url);
        seen.extend(ids(&page));
        match page["meta"]["next_cursor"].as_str() {
            Some(c) => url = format!("{}&limit=2&cursor={c}", q("Kaltmamsell")),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5);
}

#[test]
fn malformed_searches_are_a_400_that_says_what_to_change() {
    let app = TestApp::builder().search().tokens(&["admin"]).start();
    let api = Api::of(&app);
    ready(&api, &app.tokens["admin"]);
    let long = "wort ".repeat(50);
    for (query, code, says) in [
        ("", "invalid_search", "q is missing"),
        ("q=", "invalid_search", "q is empty"),
        ("q=%22offen", "invalid_search", "closing quote"),
        (
            &format!("q={}", urlencode(&long)),
            "invalid_search",
            "at most 200",
        ),
        ("q=a+b+c+d+e+f+g+h+i", "invalid_search", "at most 8"),
        ("q=x&filter[plz]=1", "unknown_field", "topics"),
        (
            "q=x&type=subscriber",
            "unknown_field",
            "not a public content type",
        ),
        ("q=x&cursor=abc", "invalid_cursor", "start again"),
        ("q=x&limit=0", "invalid_limit", ""),
        ("q=x&limit=51", "invalid_limit", ""),
        ("q=x&locale=deutsch", "invalid_parameter", "locale"),
        ("q=x&sort=title", "unknown_parameter", "q, type"),
        ("q=%3Cscript%3E", "", ""),
    ] {
        let res = api.get(&format!("/api/v1/search?{query}"), None);
        if code.is_empty() {
            assert_eq!(res.status, 200, "{query}: {}", res.body);
            continue;
        }
        assert_eq!(res.status, 400, "{query}: {}", res.body);
        assert_eq!(res.code(), code, "{query}: {}", res.body);
        assert!(res.detail().contains(says), "{query}: {}", res.detail());
    }
    // A cursor of one search is refused by another.
    let admin = &app.tokens["admin"];
    for i in 0..3 {
        publish(
            &api,
            admin,
            "story",
            &story(
                &format!("Zander {i}"),
                &format!("zander-{i}"),
                "Zander.",
                "Zander.",
                &["cloud"],
            ),
        );
    }
    assert!(wait_until(Duration::from_secs(5), || search(
        &api, "q=Zander"
    )["meta"]["total"]
        == 3));
    let cursor = search(&api, "q=Zander&limit=1")["meta"]["next_cursor"]
        .as_str()
        .unwrap()
        .to_string();
    api.get(
        &format!("/api/v1/search?q=Zandern&limit=1&cursor={cursor}"),
        None,
    )
    .expect_problem(400, "invalid_cursor");
    // Highlights are HTML-escaped: a title with markup comes back as text.
    publish(
        &api,
        admin,
        "story",
        &story(
            "Forelle <b>blau</b> & mehr",
            "forelle",
            "Forelle.",
            "Forelle.",
            &["cloud"],
        ),
    );
    assert!(wait_until(Duration::from_secs(5), || search(
        &api,
        "q=Forelle"
    )["meta"]["total"]
        == 1));
    assert_eq!(
        search(&api, "q=Forelle")["data"][0]["title_html"],
        "<mark>Forelle</mark> &lt;b&gt;blau&lt;/b&gt; &amp; mehr"
    );
}

#[test]
fn a_server_killed_with_sigkill_catches_up_from_its_index_and_the_cli_searches() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let tokens = create_tokens(&data, &["admin"]);
    let admin = &tokens["admin"];
    let server = TestServer::start(&data, &[]);
    let api = Api::at(&server.url);
    ready(&api, admin);
    let first = publish(
        &api,
        admin,
        "story",
        &story(
            "Schwanenteich vor dem Kill",
            "schwanenteich",
            "Eins.",
            "Eins.",
            &["cloud"],
        ),
    );
    assert!(wait_until(Duration::from_secs(5), || search(
        &api,
        "q=Schwanenteich"
    )["meta"]["total"]
        == 1));
    let built = api
        .get("/api/v1/admin/search", Some(admin))
        .expect(200)
        .body["data"]
        .clone();
    // SIGKILL.
    server.stop();
    // Changes while no index follows: a server without search publishes two more.
    let blind = TestServer::start(&data, &["--no-search"]);
    let api = Api::at(&blind.url);
    api.get("/api/v1/search?q=x", None)
        .expect_problem(503, "search_unavailable");
    let second = publish(
        &api,
        admin,
        "story",
        &story(
            "Schwanenteich danach",
            "schwanenteich-2",
            "Zwei.",
            "Zwei.",
            &["cloud"],
        ),
    );
    api.transition(admin, "story", &first, "archived");
    blind.stop();
    // The next start catches up from the sequence number in the index (no rebuild).
    let server = TestServer::start(&data, &[]);
    let api = Api::at(&server.url);
    assert!(
        wait_until(Duration::from_secs(10), || {
            ids(&search(&api, "q=Schwanenteich")) == [second.clone()]
        }),
        "{}",
        search(&api, "q=Schwanenteich")
    );
    let status = api
        .get("/api/v1/admin/search", Some(admin))
        .expect(200)
        .body["data"]
        .clone();
    assert!(
        status.get("built_at").is_none(),
        "caught up by a rebuild: {status}"
    );
    assert!(status["seq"].as_u64() > built["seq"].as_u64());

    // The editors' CLI: published hits and working copies, marked.
    api.create(
        admin,
        "story",
        &story(
            "Schwanenteich im Entwurf",
            "schwanenteich-3",
            "Drei.",
            "Drei.",
            &["cloud"],
        ),
    );
    let config = tmp.path().join("cli");
    let out = ok(&run_cli(
        &config,
        &server.url,
        admin,
        &["search", "Schwanenteich"],
        &[],
    ));
    assert!(out.contains("Schwanenteich danach"), "{out}");
    assert!(out.contains("Schwanenteich im Entwurf"), "{out}");
    assert!(out.contains("draft"), "{out}");
    assert!(
        !out.contains("Schwanenteich vor dem Kill") || out.contains("archived"),
        "{out}"
    );

    // A rebuild on request: a new index, the same hits.
    let generation = api
        .post("/api/v1/admin/search/rebuild", Some(admin), &json!({}))
        .expect(202)
        .body["data"]["generation"]
        .as_u64()
        .unwrap();
    assert!(wait_until(Duration::from_secs(20), || {
        let s = api.get("/api/v1/admin/search", Some(admin)).body;
        s["data"]["generation"].as_u64() == Some(generation) && s["data"]["building"] == false
    }));
    assert_eq!(ids(&search(&api, "q=Schwanenteich")), [second]);
}
