//! End-to-end tests of [`build`] with data modelled on `core/demo/*.ndjson` (copied here,
//! trimmed, so that changes to the demo content do not break these tests).

use super::*;
use crate::mime::tests::unbase64;
use crate::settings::Labels;
use verbund_plugin::serde_json::{self, json};

fn stories() -> Vec<(Value, Option<String>)> {
    vec![
        (
            json!({"kind": "news", "title": "Neue Mitglieder im Herbst 2026", "slug": "neue-mitglieder-herbst-2026",
                   "teaser": "Drei Unternehmen verstärken das Netzwerk.", "topics": ["netzwerke-infrastruktur", "data-analytics"],
                   "author": {"name": "Katrin Hollstein", "role": "Redaktion Cluster IT Mitteldeutschland"}}),
            Some("2026-10-08T09:00:00+00:00".into()),
        ),
        (
            json!({"kind": "success_story", "title": "Lernplattform für Berufsschulen <Thüringen> & mehr", "slug": "lernplattform-berufsschulen-thueringen",
                   "teaser": "Wie 14 Schulen \"gemeinsam\" in die Cloud zogen.", "topics": ["digitale-bildung", "cloud", "datenschutz"],
                   "author": {"name": "Katrin Hollstein"}}),
            Some("2026-11-05T08:00:00+00:00".into()),
        ),
        (
            json!({"kind": "success_story", "title": "Nach dem Phishing-Angriff", "slug": "phishing-angriff-logistiker-halle",
                   "teaser": "Älter.", "topics": ["it-sicherheit", "cloud"]}),
            Some("2026-03-10T08:00:00+00:00".into()),
        ),
        // Published without a slug (not usable).
        (
            json!({"kind": "news", "title": "Kaputt", "teaser": "x", "topics": ["cloud"]}),
            Some("2026-11-01T08:00:00+00:00".into()),
        ),
    ]
}

fn events() -> Vec<Value> {
    vec![
        json!({"title": "Online-Sprechstunde: Die KI-Verordnung im Mittelstand", "slug": "online-sprechstunde-ki-verordnung",
               "summary": "Fragen und Antworten zur KI-Verordnung.", "starts_at": "2026-12-10T16:00:00+01:00",
               "ends_at": "2026-12-10T17:30:00+01:00", "timezone": "Europe/Berlin", "format": "online",
               "online_url": "https://meet.example/ki", "registration_url": "https://verbund-demo.example/anmeldung/ki-sprechstunde",
               "topics": ["kuenstliche-intelligenz", "datenschutz"]}),
        json!({"title": "Mitgliederversammlung Herbst 2026", "slug": "mitgliederversammlung-herbst-2026",
               "summary": "Die Mitglieder des Clusters treffen sich in Leipzig.", "starts_at": "2026-11-26T15:00:00+01:00",
               "ends_at": "2026-11-26T19:30:00+01:00", "timezone": "Europe/Berlin", "format": "on_site",
               "venue": {"name": "Pleißenland Datenwerk, Veranstaltungsetage", "street": "Nonnenstraße 42", "postal_code": "04229", "city": "Leipzig"},
               "registration_url": "https://verbund-demo.example/anmeldung/mv-herbst-2026",
               "topics": ["kuenstliche-intelligenz", "fachkraefte"]}),
        json!({"title": "Fachforum Industrie 4.0", "slug": "fachforum-industrie-4-0-retrofit",
               "starts_at": "2027-03-18T13:00:00+01:00", "ends_at": "2027-03-18T18:00:00+01:00", "timezone": "Europe/Berlin",
               "format": "hybrid", "venue": {"name": "Halle 2", "city": "Chemnitz"}, "online_url": "https://meet.example/ff",
               "topics": ["industrie-4-0", "iot", "data-analytics"]}),
    ]
}

fn subscribers() -> Vec<Value> {
    vec![
        json!({"email": "anna.wendt@example.org", "name": "Anna Wendt", "topics": ["it-sicherheit", "cloud"],
               "consent": {"requested_at": "2026-03-02T10:14:09Z", "confirmed_at": "2026-03-02T10:21:47Z", "text_version": "2026-01", "source": "website"},
               "unsubscribe_token": "tok-anna.1"}),
        json!({"email": "jens.mahlow@example.org", "name": "Mahlow, Jens", "topics": ["industrie-4-0", "iot", "data-analytics"],
               "consent": {"requested_at": "2026-05-19T13:40:00Z", "confirmed_at": "2026-05-20T07:02:13Z", "text_version": "2026-01", "source": "event"},
               "unsubscribe_token": "tok-jens.2"}),
        json!({"email": "k.oehme@example.org",
               "consent": {"requested_at": "2026-11-19T21:05:33Z", "text_version": "2026-01", "source": "website"},
               "unsubscribe_token": "tok-k.3"}),
        json!({"email": "friederike.sauer@example.org", "name": "Friederike Sauer", "topics": ["e-government"],
               "consent": {"requested_at": "2026-02-11T08:30:00Z", "confirmed_at": "2026-02-11T08:45:12Z", "text_version": "2026-01", "source": "import"},
               "unsubscribe_at": null, "unsubscribed_at": "2026-10-02T17:12:40Z", "unsubscribe_token": "tok-f.4"}),
    ]
}

/// The German entries above, each with the locale `de`.
fn inputs() -> Inputs {
    let de = |data| Item::new("de", data);
    Inputs {
        stories: stories()
            .into_iter()
            .map(|(data, at)| Item {
                published_at: at,
                ..de(data)
            })
            .collect(),
        events: events().into_iter().map(de).collect(),
        subscribers: subscribers().into_iter().map(de).collect(),
    }
}

/// English versions of (some of) the stories and events, English subscribers and one in
/// `de-AT`.
fn english_inputs() -> Inputs {
    let en = |data| Item::new("en", data);
    Inputs {
        stories: vec![
            en(json!({"kind": "news", "title": "New members in autumn 2026", "slug": "new-members-autumn-2026",
                      "teaser": "Three companies join the network.", "topics": ["netzwerke-infrastruktur", "data-analytics"],
                      "author": {"name": "Katrin Hollstein", "role": "Editorial team, Cluster IT Mitteldeutschland"}}))
            .published("2026-10-08T09:00:00+00:00"),
            en(json!({"kind": "success_story", "title": "A learning platform for vocational schools <Thuringia> & more",
                      "slug": "learning-platform-vocational-schools-thuringia",
                      "teaser": "How 14 schools moved to the \"cloud\" together.", "topics": ["digitale-bildung", "cloud", "datenschutz"],
                      "author": {"name": "Katrin Hollstein"}}))
            .published("2026-11-05T08:00:00+00:00"),
            // Before the period.
            en(json!({"kind": "success_story", "title": "After the phishing attack", "slug": "phishing-attack-logistics-halle",
                      "teaser": "Older.", "topics": ["it-sicherheit", "cloud"]}))
            .published("2026-03-10T08:00:00+00:00"),
        ],
        events: vec![
            en(json!({"title": "Online consultation: the AI Act for SMEs", "slug": "online-consultation-ai-act",
                      "summary": "Questions and answers on the AI Act.", "starts_at": "2026-12-10T16:00:00+01:00",
                      "ends_at": "2026-12-10T17:30:00+01:00", "timezone": "Europe/Berlin", "format": "online",
                      "online_url": "https://meet.example/ki", "registration_url": "https://verbund-demo.example/register/ai-consultation",
                      "topics": ["kuenstliche-intelligenz", "datenschutz"]})),
            en(json!({"title": "Members’ meeting autumn 2026", "slug": "members-meeting-autumn-2026",
                      "summary": "The cluster’s members meet in Leipzig.", "starts_at": "2026-11-26T15:00:00+01:00",
                      "ends_at": "2026-11-26T19:30:00+01:00", "timezone": "Europe/Berlin", "format": "on_site",
                      "venue": {"name": "Pleißenland Datenwerk, event floor", "street": "Nonnenstraße 42", "postal_code": "04229", "city": "Leipzig"},
                      "registration_url": "https://verbund-demo.example/register/mm-autumn-2026",
                      "topics": ["kuenstliche-intelligenz", "fachkraefte"]})),
        ],
        subscribers: vec![
            en(json!({"email": "emma.clarke@example.org", "name": "Emma Clarke",
                      "consent": {"requested_at": "2026-06-01T09:00:00Z", "confirmed_at": "2026-06-01T09:05:00Z", "text_version": "2026-01", "source": "website"},
                      "unsubscribe_token": "tok-emma.5"})),
            // Not confirmed.
            en(json!({"email": "li.wei@example.org",
                      "consent": {"requested_at": "2026-11-20T08:00:00Z", "text_version": "2026-01", "source": "website"},
                      "unsubscribe_token": "tok-li.6"})),
            // Other topics.
            en(json!({"email": "oliver.hart@example.org", "topics": ["e-government"],
                      "consent": {"requested_at": "2026-04-01T09:00:00Z", "confirmed_at": "2026-04-01T09:10:00Z", "text_version": "2026-01", "source": "event"},
                      "unsubscribe_token": "tok-oliver.7"})),
            Item::new("de-AT", json!({"email": "sepp.huber@example.at", "name": "Sepp Huber",
                      "consent": {"requested_at": "2026-05-01T09:00:00Z", "confirmed_at": "2026-05-01T09:10:00Z", "text_version": "2026-01", "source": "website"},
                      "unsubscribe_token": "tok-sepp.8"})),
        ],
    }
}

/// German and English entries together, as a host without the locale filter would give them.
fn mixed_inputs() -> Inputs {
    let (mut all, en) = (inputs(), english_inputs());
    all.stories.extend(en.stories);
    all.events.extend(en.events);
    all.subscribers.extend(en.subscribers);
    all
}

fn now() -> DateTime<FixedOffset> {
    dates::parse_time("2026-11-22T10:15:00.123456+00:00").unwrap()
}

fn params(pairs: &[(&str, &str)]) -> Params {
    let pairs: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    params::parse_params(&pairs, now().date_naive()).unwrap()
}

fn artifact<'a>(b: &'a Built, name: &str) -> &'a Artifact {
    b.artifacts.iter().find(|a| a.name == name).unwrap()
}

fn text_of<'a>(b: &'a Built, name: &str) -> &'a str {
    std::str::from_utf8(&artifact(b, name).bytes).unwrap()
}

#[test]
fn manifest() {
    let m = NewsletterExport::describe();
    assert_eq!(m.name, "newsletter-export");
    assert_eq!(m.version, "1.0.0");
    assert_eq!(m.contract, CONTRACT);
    assert_eq!(m.hooks, [Hook::Export]);
    assert!(m.workflows.is_empty());
    let grants: Vec<(&str, bool)> = m
        .grants
        .iter()
        .map(|g| (g.content_type.as_str(), g.personal_data))
        .collect();
    assert_eq!(
        grants,
        [("story", false), ("event", false), ("subscriber", true)]
    );
    assert_eq!(m.exports.len(), 1);
    assert_eq!(m.exports[0].name, "issue");
    assert_eq!(
        m.exports[0].description,
        "Newsletter-Ausgabe: HTML, Text, Empfängerliste (CSV), Beispiel-E-Mail (.eml)"
    );
}

#[test]
fn artifacts_in_order_with_media_types() {
    let s = settings_of(|_| None);
    let b = build(&params(&[("since", "2026-10-01")]), &now(), &s, inputs());
    let got: Vec<(&str, &str)> = b
        .artifacts
        .iter()
        .map(|a| (a.name.as_str(), a.media_type.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("newsletter.html", "text/html; charset=utf-8"),
            ("newsletter.txt", "text/plain; charset=utf-8"),
            ("recipients.csv", "text/csv; charset=utf-8"),
            ("sample.eml", "message/rfc822"),
            ("summary.json", "application/json"),
        ]
    );
    assert_eq!(b.unusable_items, 1);
}

#[test]
fn summary_counts_and_topics() {
    let s = settings_of(|_| None);
    let b = build(&params(&[("since", "2026-10-01")]), &now(), &s, inputs());
    let summary: Value = serde_json::from_str(text_of(&b, "summary.json")).unwrap();
    assert_eq!(
        summary,
        json!({
            "since": "2026-10-01", "until": "2026-11-22", "events_from": "2026-11-22", "events_until": "2027-01-21",
            "topics": ["cloud", "data-analytics", "datenschutz", "digitale-bildung", "fachkraefte",
                       "kuenstliche-intelligenz", "netzwerke-infrastruktur"],
            "stories": 2, "events": 2, "items": 4, "recipients": 2
        })
    );
    // Narrowed to a topic: only the matching items, and only interested recipients.
    let b = build(
        &params(&[
            ("since", "2026-01-01"),
            ("topics", "it-sicherheit"),
            ("events_until", "2027-12-31"),
        ]),
        &now(),
        &s,
        inputs(),
    );
    let summary: Value = serde_json::from_str(text_of(&b, "summary.json")).unwrap();
    assert_eq!(summary["topics"], json!(["it-sicherheit"]));
    assert_eq!(
        (summary["stories"].as_u64(), summary["events"].as_u64()),
        (Some(1), Some(0))
    );
    assert_eq!(summary["recipients"], 1);
    assert!(text_of(&b, "recipients.csv").contains("anna.wendt@example.org"));
}

#[test]
fn html_is_email_safe_escaped_and_german() {
    let s = settings_of(|k| match k {
        "website" => Some("https://cluster-it.example".into()),
        "address" => Some("Nonnenstraße 42, 04229 Leipzig".into()),
        "privacy_url" => Some("https://cluster-it.example/#/datenschutz".into()),
        _ => None,
    });
    let b = build(&params(&[("since", "2026-10-01")]), &now(), &s, inputs());
    let html = text_of(&b, "newsletter.html");
    for want in [
        "<html lang=\"de\">",
        "<title>Newsletter – November 2026</title>",
        "max-width:600px",
        "Neue Geschichten aus dem Cluster",
        "Kommende Veranstaltungen",
        ">Weiterlesen</a>",
        ">Zur Anmeldung</a>",
        "Donnerstag, 26. November 2026, 15:00–19:30 Uhr (MEZ)",
        "Donnerstag, 10. Dezember 2026, 16:00–17:30 Uhr (MEZ)",
        "Ort: Pleißenland Datenwerk, Veranstaltungsetage, Nonnenstraße 42, 04229 Leipzig",
        ">Online</p>",
        "href=\"https://cluster-it.example/#/geschichten/neue-mitglieder-herbst-2026\"",
        "href=\"https://cluster-it.example/#/veranstaltungen/mitgliederversammlung-herbst-2026\"",
        "href=\"{{unsubscribe_url}}\"",
        ">Abmelden</a>",
        "Sie erhalten diesen Newsletter, weil Sie ihn abonniert",
        "Cluster IT Mitteldeutschland e. V. · Nonnenstraße 42, 04229 Leipzig",
        ">Datenschutzerklärung</a>",
        "Lernplattform für Berufsschulen &lt;Thüringen&gt; &amp; mehr",
        "Wie 14 Schulen &quot;gemeinsam&quot; in die Cloud zogen.",
        "Themen: Digitale Bildung, Cloud, Datenschutz",
        "Erfolgsgeschichte · 5. November 2026",
        "Neues aus dem Cluster vom 1. Oktober bis 22. November 2026.",
        "2 neue Geschichten und 2 kommende Veranstaltungen",
    ] {
        assert!(html.contains(want), "missing {want:?}");
    }
    // Newest story first, events by start.
    let pos = |t: &str| html.find(t).unwrap_or_else(|| panic!("{t}"));
    assert!(pos("Lernplattform") < pos("Neue Mitglieder im Herbst"));
    assert!(pos("Mitgliederversammlung Herbst") < pos("Online-Sprechstunde"));
    // Out of range: the old story, the event in March, the join link of online events.
    assert!(!html.contains("Phishing"));
    assert!(!html.contains("Fachforum"));
    assert!(!html.contains("meet.example"));
    // E-mail-safe: no style sheets, scripts, images, classes, external resources.
    for banned in [
        "<style", "<script", "<img", "<link", "class=", "@import", "url(",
    ] {
        assert!(!html.contains(banned), "contains {banned}");
    }
    assert!(html.contains("<table role=\"presentation\""));
}

#[test]
fn hybrid_event_and_empty_issue() {
    let s = settings_of(|_| None);
    let b = build(
        &params(&[("since", "2027-03-01"), ("until", "2027-03-31")]),
        &now(),
        &s,
        inputs(),
    );
    let html = text_of(&b, "newsletter.html");
    assert!(html.contains("Vor Ort und online: Halle 2, Chemnitz"));
    assert!(html.contains("Donnerstag, 18. März 2027, 13:00–18:00 Uhr (MEZ)"));
    assert!(!html.contains("Neue Geschichten aus dem Cluster"));
    assert!(
        !html.contains(">Zur Anmeldung<"),
        "no registration link given"
    );
    // Nothing at all: still a valid issue, with a note.
    let b = build(
        &params(&[("since", "2028-01-01"), ("until", "2028-01-31")]),
        &now(),
        &s,
        inputs(),
    );
    assert!(text_of(&b, "newsletter.html").contains("keine neuen Geschichten"));
    assert!(text_of(&b, "newsletter.txt").contains("keine neuen Geschichten"));
    let summary: Value = serde_json::from_str(text_of(&b, "summary.json")).unwrap();
    assert_eq!(summary["items"], 0);
    assert_eq!(summary["topics"], json!([]));
    // Only subscribers without topics would get an issue without topics: none here.
    assert_eq!(summary["recipients"], 0);
    assert_eq!(
        text_of(&b, "recipients.csv"),
        "email,name,unsubscribe_url\r\n"
    );
    let eml = text_of(&b, "sample.eml");
    assert!(eml.contains("\r\nTo: empfaenger@example.org\r\n"));
    assert!(eml.contains(
        "\r\nList-Unsubscribe: <http://127.0.0.1:8080/api/v1/newsletter/unsubscribe?token=BEISPIEL>\r\n"
    ));
}

#[test]
fn plain_text_has_content_and_urls() {
    let s = settings_of(|_| None);
    let b = build(&params(&[("since", "2026-10-01")]), &now(), &s, inputs());
    let txt = text_of(&b, "newsletter.txt");
    for want in [
        "Newsletter – November 2026\n==========================\n",
        "NEUE GESCHICHTEN AUS DEM CLUSTER",
        "KOMMENDE VERANSTALTUNGEN",
        "Lernplattform für Berufsschulen <Thüringen> & mehr\n",
        "Weiterlesen: http://127.0.0.1:8080/#/geschichten/lernplattform-berufsschulen-thueringen\n",
        "Zur Anmeldung: https://verbund-demo.example/anmeldung/mv-herbst-2026\n",
        "Details: http://127.0.0.1:8080/#/veranstaltungen/mitgliederversammlung-herbst-2026\n",
        "Donnerstag, 26. November 2026, 15:00–19:30 Uhr (MEZ)\n",
        "Von Katrin Hollstein (Redaktion Cluster IT Mitteldeutschland)\n",
        "Abmelden: {{unsubscribe_url}}\n",
    ] {
        assert!(txt.contains(want), "missing {want:?}\n{txt}");
    }
    assert!(
        !txt.contains("&amp;") && !txt.contains("&lt;"),
        "plain text is not escaped"
    );
    // Wrapped: no line longer than 72 characters except URL lines.
    for line in txt.lines() {
        assert!(
            line.chars().count() <= 72 || line.contains("http"),
            "{line}"
        );
    }
    // The whole text part as a subscriber reads it: a change to the layout shows up here.
    insta::assert_snapshot!("newsletter_text_part", txt);
}

#[test]
fn recipients_csv_only_confirmed_and_interested() {
    let s = settings_of(|k| (k == "api").then(|| "https://api.example/verbund".into()));
    let b = build(&params(&[("since", "2026-10-01")]), &now(), &s, inputs());
    assert_eq!(
        text_of(&b, "recipients.csv"),
        "email,name,unsubscribe_url\r\n\
         anna.wendt@example.org,Anna Wendt,https://api.example/verbund/api/v1/newsletter/unsubscribe?token=tok-anna.1\r\n\
         jens.mahlow@example.org,\"Mahlow, Jens\",https://api.example/verbund/api/v1/newsletter/unsubscribe?token=tok-jens.2\r\n"
    );
}

#[test]
fn sample_eml_is_a_complete_mime_message() {
    let s = settings_of(|_| None);
    let b = build(&params(&[("since", "2026-10-01")]), &now(), &s, inputs());
    let eml = text_of(&b, "sample.eml");
    assert!(!eml.replace("\r\n", "").contains('\n'), "only CRLF");
    let (head, body) = eml.split_once("\r\n\r\n").unwrap();
    let unsubscribe = "http://127.0.0.1:8080/api/v1/newsletter/unsubscribe?token=tok-anna.1";
    for want in [
        "From: Cluster IT Mitteldeutschland <newsletter@cluster-it.example>",
        "To: Anna Wendt <anna.wendt@example.org>",
        "Subject: =?UTF-8?B?TmV3c2xldHRlciDigJMgTm92ZW1iZXIgMjAyNg==?=",
        "Date: Sun, 22 Nov 2026 10:15:00 +0000",
        "MIME-Version: 1.0",
        &format!("List-Unsubscribe: <{unsubscribe}>"),
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        "Content-Type: multipart/alternative; boundary=\"=_verbund_",
    ] {
        assert!(
            head.lines().any(|l| l.starts_with(want)),
            "missing {want:?}\n{head}"
        );
    }
    let mid = head
        .lines()
        .find_map(|l| l.strip_prefix("Message-ID: "))
        .unwrap();
    assert!(
        mid.starts_with("<newsletter.20261122101500.") && mid.ends_with("@cluster-it.example>")
    );
    for line in eml.split("\r\n") {
        assert!(line.len() <= 998);
    }
    let boundary = head
        .split("boundary=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let parts: Vec<&str> = body.split(&format!("--{boundary}")).collect();
    assert_eq!(parts.len(), 4);
    let decode = |p: &str| {
        let (h, b) = p.split_once("\r\n\r\n").unwrap();
        for line in b.split("\r\n") {
            assert!(line.len() <= 76);
        }
        (h.to_string(), String::from_utf8(unbase64(b)).unwrap())
    };
    let (h, txt) = decode(parts[1]);
    assert!(h.contains("text/plain; charset=utf-8") && h.contains("base64"));
    assert!(txt.contains(&format!("Abmelden: {unsubscribe}")));
    assert!(!txt.contains("{{unsubscribe_url}}"));
    assert_eq!(
        txt,
        text_of(&b, "newsletter.txt").replace("{{unsubscribe_url}}", unsubscribe)
    );
    let (h, html) = decode(parts[2]);
    assert!(h.contains("text/html; charset=utf-8"));
    assert!(html.contains(&format!("href=\"{unsubscribe}\"")));
    assert!(!html.contains("{{unsubscribe_url}}"));
}

#[test]
fn settings_change_subject_sender_and_footer() {
    let s = settings_of(|k| match k {
        "subject" => Some("Cluster-Post Nr. 7".into()),
        "from" => Some("Redaktion Süd <post@süd.example>".into()),
        "organisation" => Some("Verein & Co".into()),
        _ => None,
    });
    let b = build(&params(&[("since", "2026-10-01")]), &now(), &s, inputs());
    let eml = text_of(&b, "sample.eml");
    assert!(eml.contains("\r\nSubject: Cluster-Post Nr. 7\r\n"));
    assert!(eml.starts_with("From: =?UTF-8?B?UmVkYWt0aW9uIFPDvGQ=?= <post@süd.example>\r\n"));
    // A domain that is not plain ASCII is not used for the Message-ID.
    assert!(eml.contains("@verbund.invalid>\r\n"));
    let html = text_of(&b, "newsletter.html");
    assert!(html.contains("<title>Cluster-Post Nr. 7</title>"));
    assert!(html.contains("Verein &amp; Co"));
}

/// The labels as the host hands them over: the story schema with its `$ref`s resolved.
pub fn schema_labels() -> Labels {
    schema_labels_in("de")
}

/// The same in `locale`.
pub fn schema_labels_in(locale: &str) -> Labels {
    let common: Value = serde_json::from_str(include_str!("../../../schemas/common.json")).unwrap();
    let mut story: Value =
        serde_json::from_str(include_str!("../../../schemas/story.json")).unwrap();
    story["properties"]["topics"]["items"] = common["$defs"]["topic"].clone();
    Labels::from_story_schema(&story, locale)
}

/// Settings read through `lookup`, with the labels of the real schemas.
fn settings_of(lookup: impl Fn(&str) -> Option<String>) -> Settings {
    Settings::from_lookup(lookup).with_labels(schema_labels())
}

/// The same with the labels in `locale`.
fn settings_in(locale: &str, lookup: impl Fn(&str) -> Option<String>) -> Settings {
    Settings::from_lookup(lookup)
        .with_labels(schema_labels_in(locale))
        .for_locale(locale)
}

// --- issues per locale ------------------------------------------------------------------

fn full_settings(locale: &str) -> Settings {
    settings_in(locale, |k| match k {
        "website" => Some("https://cluster-it.example".into()),
        "address" => Some("Nonnenstraße 42, 04229 Leipzig".into()),
        "privacy_url" => Some("https://cluster-it.example/#/datenschutz".into()),
        _ => None,
    })
}

/// What a German reader would see in an English issue by mistake.
const GERMAN_TEXTS: [&str; 22] = [
    "lang=\"de\"",
    "Neues aus dem Cluster",
    "Neue Geschichten",
    "NEUE GESCHICHTEN",
    "Kommende Veranstaltungen",
    "KOMMENDE VERANSTALTUNGEN",
    "neue Geschichte",
    "Weiterlesen",
    "Zur Anmeldung",
    "Details zur Veranstaltung",
    "Themen",
    "Von ",
    "Ort:",
    " Uhr",
    "MEZ",
    "Oktober",
    "Dezember",
    "Donnerstag",
    "Erfolgsgeschichte",
    "Sie erhalten",
    "Abmelden",
    "Datenschutzerklärung",
];

#[test]
fn english_issue_from_english_entries() {
    let s = full_settings("en");
    let b = build(
        &params(&[("since", "2026-10-01"), ("locale", "en")]),
        &now(),
        &s,
        mixed_inputs(),
    );
    let html = text_of(&b, "newsletter.html");
    for want in [
        "<html lang=\"en\">",
        "<title>Newsletter – November 2026</title>",
        "What’s new in the cluster from 1 October to 22 November 2026.",
        "2 new stories and 2 upcoming events",
        ">New stories from the cluster</h2>",
        ">Upcoming events</h2>",
        "Success story · 5 November 2026",
        "News · 8 October 2026",
        "A learning platform for vocational schools &lt;Thuringia&gt; &amp; more",
        "How 14 schools moved to the &quot;cloud&quot; together.",
        "By Katrin Hollstein (Editorial team, Cluster IT Mitteldeutschland)",
        "Topics: Digital education, Cloud, Data protection",
        "Topics: Networks &amp; infrastructure, Data analytics",
        ">Read more</a>",
        "Thursday, 26 November 2026, 15:00–19:30 (CET)",
        "Thursday, 10 December 2026, 16:00–17:30 (CET)",
        "Venue: Pleißenland Datenwerk, event floor, Nonnenstraße 42, 04229 Leipzig",
        ">Online</p>",
        ">Register</a>",
        ">Event details</a>",
        "href=\"https://cluster-it.example/#/en/geschichten/learning-platform-vocational-schools-thuringia\"",
        "You are receiving this newsletter because you subscribed to it",
        "No longer want to receive it? Unsubscribe with one click: <a href=\"{{unsubscribe_url}}\"",
        ">Unsubscribe</a>",
        "Cluster IT Mitteldeutschland e. V. · Nonnenstraße 42, 04229 Leipzig",
        ">Website</a>",
        ">Privacy policy</a>",
    ] {
        assert!(html.contains(want), "missing {want:?}");
    }
    // Only the English entries: none of the German ones, none out of range.
    for (data, _) in stories() {
        let title = render::escape(data["title"].as_str().unwrap());
        assert!(!html.contains(&title), "German story {title}");
    }
    for data in events() {
        let title = render::escape(data["title"].as_str().unwrap());
        assert!(!html.contains(&title), "German event {title}");
    }
    assert!(!html.contains("phishing"));
    let txt = text_of(&b, "newsletter.txt");
    for german in GERMAN_TEXTS {
        assert!(!html.contains(german), "German {german:?} in the HTML");
        assert!(!txt.contains(german), "German {german:?} in the text");
    }
    // Newest story first, events by start, as in German.
    let pos = |t: &str| html.find(t).unwrap_or_else(|| panic!("{t}"));
    assert!(pos("A learning platform") < pos("New members in autumn"));
    assert!(pos("Members’ meeting") < pos("Online consultation"));
    for want in [
        "Newsletter – November 2026\n==========================\n",
        "NEW STORIES FROM THE CLUSTER\n----------------------------\n",
        "UPCOMING EVENTS\n---------------\n",
        "Read more: https://cluster-it.example/#/en/geschichten/new-members-autumn-2026\n",
        "Register: https://verbund-demo.example/register/mm-autumn-2026\n",
        "Details: https://cluster-it.example/#/en/veranstaltungen/members-meeting-autumn-2026\n",
        "Thursday, 26 November 2026, 15:00–19:30 (CET)\n",
        "Unsubscribe: {{unsubscribe_url}}\n",
        "Privacy policy: https://cluster-it.example/#/datenschutz\n",
    ] {
        assert!(txt.contains(want), "missing {want:?}\n{txt}");
    }
    insta::assert_snapshot!("newsletter_text_part_en", txt);

    // Recipients: confirmed English subscribers only (not the German, not the Austrian one).
    assert_eq!(
        text_of(&b, "recipients.csv"),
        "email,name,unsubscribe_url\r\n\
         emma.clarke@example.org,Emma Clarke,https://cluster-it.example/api/v1/newsletter/unsubscribe?token=tok-emma.5\r\n"
    );
    let summary: Value = serde_json::from_str(text_of(&b, "summary.json")).unwrap();
    assert_eq!(
        (
            &summary["stories"],
            &summary["events"],
            &summary["recipients"]
        ),
        (&json!(2), &json!(2), &json!(1))
    );
    let eml = text_of(&b, "sample.eml");
    assert!(eml.contains("\r\nTo: Emma Clarke <emma.clarke@example.org>\r\n"));
    assert!(eml.contains("\r\nSubject: =?UTF-8?B?"));
}

#[test]
fn german_issue_is_unchanged_by_entries_in_other_locales() {
    let s = full_settings("de");
    for pairs in [
        &[("since", "2026-10-01")][..],
        &[("since", "2026-10-01"), ("locale", "de")],
        &[("since", "2028-01-01"), ("until", "2028-01-31")],
    ] {
        let german = build(&params(pairs), &now(), &s, inputs());
        let mixed = build(&params(pairs), &now(), &s, mixed_inputs());
        assert_eq!(german.artifacts, mixed.artifacts, "{pairs:?}");
        assert_eq!(german.unusable_items, mixed.unusable_items);
    }
    let b = build(
        &params(&[("since", "2026-10-01")]),
        &now(),
        &s,
        mixed_inputs(),
    );
    let csv = text_of(&b, "recipients.csv");
    assert!(csv.contains("anna.wendt@example.org"));
    assert!(!csv.contains("emma.clarke") && !csv.contains("sepp.huber"));
    assert!(!text_of(&b, "newsletter.html").contains("Thuringia"));
}

#[test]
fn empty_english_issue() {
    let s = settings_in("en", |_| None);
    let b = build(
        &params(&[
            ("since", "2028-01-01"),
            ("until", "2028-01-31"),
            ("locale", "en"),
        ]),
        &now(),
        &s,
        mixed_inputs(),
    );
    let note = "There are no new stories and no upcoming events for this period.";
    assert!(text_of(&b, "newsletter.html").contains(note));
    assert!(text_of(&b, "newsletter.txt").contains(note));
    assert!(text_of(&b, "newsletter.html").contains("0 new stories and 0 upcoming events"));
    assert!(text_of(&b, "newsletter.html").contains("<title>Newsletter – January 2028</title>"));
    // Emma wants every topic, and an issue without topics is for those only.
    let summary: Value = serde_json::from_str(text_of(&b, "summary.json")).unwrap();
    assert_eq!(
        (&summary["items"], &summary["recipients"]),
        (&json!(0), &json!(1))
    );
    // A one-day issue.
    let b = build(
        &params(&[
            ("since", "2026-11-22"),
            ("until", "2026-11-22"),
            ("locale", "en"),
        ]),
        &now(),
        &s,
        Inputs::default(),
    );
    assert!(
        text_of(&b, "newsletter.txt").contains("What’s new in the cluster on 22 November 2026.\n")
    );
    let eml = text_of(&b, "sample.eml");
    assert!(eml.contains("\r\nTo: recipient@example.org\r\n"), "{eml}");
    assert!(eml.contains("unsubscribe?token=EXAMPLE>\r\n"));
}

#[test]
fn other_locales_english_texts_or_german_for_german_regions() {
    // de-AT: German texts, the Austrian entries and subscribers only.
    let at = |data| Item::new("de-AT", data);
    let mut inputs_at = mixed_inputs();
    inputs_at.stories.push(
        at(json!({"kind": "news", "title": "Neue Mitglieder aus Wien", "slug": "neue-mitglieder-wien",
                  "teaser": "Zwei Unternehmen aus Wien.", "topics": ["cloud"]}))
        .published("2026-11-10T08:00:00+00:00"),
    );
    let b = build(
        &params(&[("since", "2026-10-01"), ("locale", "de-AT")]),
        &now(),
        &settings_in("de-AT", |_| None),
        inputs_at.clone(),
    );
    let html = text_of(&b, "newsletter.html");
    assert!(html.contains("<html lang=\"de-AT\">"));
    assert!(html.contains(">Neue Geschichten aus dem Cluster</h2>"));
    assert!(html.contains("Meldung · 10. November 2026"));
    assert!(html.contains("Themen: Cloud"));
    assert!(!html.contains("Lernplattform") && !html.contains("learning platform"));
    assert!(
        !html.contains("Kommende Veranstaltungen"),
        "no Austrian events"
    );
    assert_eq!(
        text_of(&b, "recipients.csv"),
        "email,name,unsubscribe_url\r\n\
         sepp.huber@example.at,Sepp Huber,http://127.0.0.1:8080/api/v1/newsletter/unsubscribe?token=tok-sepp.8\r\n"
    );

    // fr: no texts of its own, so English ones; no French labels in the schema, so German.
    let mut inputs_fr = inputs_at;
    inputs_fr.stories.push(
        Item::new("fr", json!({"kind": "success_story", "title": "Une plateforme d’apprentissage", "slug": "plateforme",
                  "teaser": "Quatorze écoles.", "topics": ["digitale-bildung"]}))
        .published("2026-11-12T08:00:00+00:00"),
    );
    let b = build(
        &params(&[("since", "2026-10-01"), ("locale", "fr")]),
        &now(),
        &settings_in("fr", |_| None),
        inputs_fr,
    );
    let html = text_of(&b, "newsletter.html");
    assert!(html.contains("<html lang=\"fr\">"));
    assert!(html.contains(">New stories from the cluster</h2>"));
    assert!(html.contains("Une plateforme d’apprentissage"));
    assert!(html.contains("Erfolgsgeschichte · 12 November 2026"));
    assert!(html.contains("Topics: Digitale Bildung"));
    assert!(!html.contains("Neue Mitglieder"));
    assert_eq!(
        text_of(&b, "recipients.csv"),
        "email,name,unsubscribe_url\r\n"
    );
}

#[test]
fn a_malformed_locale_is_refused() {
    for bad in ["EN", "en_US", "deutsch", "de-at", "e"] {
        let pairs = vec![
            ("since".to_string(), "2026-10-01".to_string()),
            ("locale".to_string(), bad.to_string()),
        ];
        let e = params::parse_params(&pairs, now().date_naive()).unwrap_err();
        assert!(
            e.starts_with("Parameter „locale“ ist ungültig")
                && e.contains(" / Parameter \"locale\" is invalid")
                && e.contains("de, en or de-AT"),
            "{e}"
        );
    }
}

#[test]
fn an_english_issue_links_to_the_english_pages_of_the_website() {
    let en = full_settings("en");
    assert_eq!(
        en.story_url("retrofit-foundry-ore-mountains"),
        "https://cluster-it.example/#/en/geschichten/retrofit-foundry-ore-mountains"
    );
    assert_eq!(
        en.event_url("general-meeting-autumn-2026"),
        "https://cluster-it.example/#/en/veranstaltungen/general-meeting-autumn-2026"
    );
    assert_eq!(
        full_settings("de").story_url("cloud-umzug"),
        "https://cluster-it.example/#/geschichten/cloud-umzug"
    );
}
