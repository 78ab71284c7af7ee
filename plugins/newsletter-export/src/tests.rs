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

fn inputs() -> Inputs {
    Inputs {
        stories: stories(),
        events: events(),
        subscribers: subscribers(),
    }
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
    let common: Value = serde_json::from_str(include_str!("../../../schemas/common.json")).unwrap();
    let mut story: Value =
        serde_json::from_str(include_str!("../../../schemas/story.json")).unwrap();
    story["properties"]["topics"]["items"] = common["$defs"]["topic"].clone();
    Labels::from_story_schema(&story, "de")
}

/// Settings read through `lookup`, with the labels of the real schemas.
fn settings_of(lookup: impl Fn(&str) -> Option<String>) -> Settings {
    Settings::from_lookup(lookup).with_labels(schema_labels())
}
