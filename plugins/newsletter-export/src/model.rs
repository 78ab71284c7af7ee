//! The export's content: stories, events and recipients, read from plain values (no host
//! calls), and the rules that select them for an issue.

use chrono::{DateTime, FixedOffset, Utc};
use verbund_plugin::Value;

use crate::dates::parse_time;
use crate::params::Params;
use crate::texts::Texts;

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn topics_of(v: &Value) -> Vec<String> {
    v.get("topics")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn intersects(a: &[String], b: &[String]) -> bool {
    a.iter().any(|x| b.contains(x))
}

/// A published story.
#[derive(Debug, Clone, PartialEq)]
pub struct Story {
    pub title: String,
    pub slug: String,
    pub teaser: String,
    pub kind: String,
    pub topics: Vec<String>,
    pub author_name: Option<String>,
    pub author_role: Option<String>,
    pub published: DateTime<FixedOffset>,
}

impl Story {
    /// From an entry's data and its `published-at`; `None` without title, slug or a valid
    /// publication time.
    pub fn from_json(data: &Value, published_at: Option<&str>) -> Option<Story> {
        let author = data.get("author").cloned().unwrap_or(Value::Null);
        Some(Story {
            title: text(data, "title")?,
            slug: text(data, "slug")?,
            teaser: text(data, "teaser").unwrap_or_default(),
            kind: text(data, "kind").unwrap_or_default(),
            topics: topics_of(data),
            author_name: text(&author, "name"),
            author_role: text(&author, "role"),
            published: parse_time(published_at?)?,
        })
    }
}

/// Where an on-site or hybrid event takes place.
#[derive(Debug, Clone, PartialEq)]
pub struct Venue {
    pub name: Option<String>,
    pub street: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
}

impl Venue {
    /// `Name, Straße 1, 04229 Leipzig` (what is there of it).
    pub fn line(&self) -> String {
        let place = match (&self.postal_code, &self.city) {
            (Some(p), Some(c)) => Some(format!("{p} {c}")),
            (None, Some(c)) => Some(c.clone()),
            (Some(p), None) => Some(p.clone()),
            (None, None) => None,
        };
        [self.name.clone(), self.street.clone(), place]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A published event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub title: String,
    pub slug: String,
    pub summary: Option<String>,
    pub starts: DateTime<FixedOffset>,
    pub ends: Option<DateTime<FixedOffset>>,
    pub timezone: String,
    pub format: String,
    pub venue: Option<Venue>,
    pub online_url: Option<String>,
    pub registration_url: Option<String>,
    pub topics: Vec<String>,
}

impl Event {
    /// From an entry's data; `None` without title, slug or a valid `starts_at`.
    pub fn from_json(data: &Value) -> Option<Event> {
        let venue = data.get("venue").filter(|v| v.is_object()).map(|v| Venue {
            name: text(v, "name"),
            street: text(v, "street"),
            postal_code: text(v, "postal_code"),
            city: text(v, "city"),
        });
        Some(Event {
            title: text(data, "title")?,
            slug: text(data, "slug")?,
            summary: text(data, "summary"),
            starts: parse_time(&text(data, "starts_at")?)?,
            ends: text(data, "ends_at").and_then(|e| parse_time(&e)),
            timezone: text(data, "timezone").unwrap_or_else(|| "UTC".into()),
            format: text(data, "format").unwrap_or_else(|| "on_site".into()),
            venue,
            online_url: text(data, "online_url"),
            registration_url: text(data, "registration_url"),
            topics: topics_of(data),
        })
    }

    /// `Ort: …`, `Online`, `Vor Ort und online: …` (English: `Venue: …`, `Online`, `On site
    /// and online: …`).
    pub fn place(&self, t: &Texts) -> String {
        let venue = self
            .venue
            .as_ref()
            .map(Venue::line)
            .filter(|l| !l.is_empty());
        match (self.format.as_str(), venue) {
            ("online", _) => t.online.into(),
            ("hybrid", Some(v)) => format!("{}: {v}", t.on_site_and_online),
            ("hybrid", None) => t.on_site_and_online.into(),
            (_, Some(v)) => format!("{}: {v}", t.venue),
            (_, None) => t.on_site.into(),
        }
    }
}

/// Stories published (UTC) within [since, until] and about one of `topics` (if given),
/// newest first.
pub fn select_stories(mut stories: Vec<Story>, p: &Params) -> Vec<Story> {
    stories.retain(|s| {
        let day = s.published.with_timezone(&Utc).date_naive();
        day >= p.since
            && day <= p.until
            && p.topics.as_ref().is_none_or(|t| intersects(&s.topics, t))
    });
    stories.sort_unstable_by(|a, b| {
        b.published
            .cmp(&a.published)
            .then_with(|| a.title.cmp(&b.title))
    });
    stories
}

/// Events starting (on the local calendar day of the event) within [events_from,
/// events_until] — upcoming, not past — and about one of `topics` (if given), by start.
pub fn select_events(mut events: Vec<Event>, p: &Params) -> Vec<Event> {
    events.retain(|e| {
        let day = e.starts.date_naive();
        day >= p.events_from
            && day <= p.events_until
            && p.topics.as_ref().is_none_or(|t| intersects(&e.topics, t))
    });
    events.sort_unstable_by(|a, b| a.starts.cmp(&b.starts).then_with(|| a.title.cmp(&b.title)));
    events
}

/// The topics of the issue: the `topics` parameter, else the union of the items' topics
/// (sorted).
pub fn issue_topics(p: &Params, stories: &[Story], events: &[Event]) -> Vec<String> {
    if let Some(t) = &p.topics {
        return t.clone();
    }
    let mut all: Vec<String> = stories
        .iter()
        .flat_map(|s| s.topics.iter())
        .chain(events.iter().flat_map(|e| e.topics.iter()))
        .cloned()
        .collect();
    all.sort();
    all.dedup();
    all
}

/// One recipient of the issue.
#[derive(Debug, Clone, PartialEq)]
pub struct Recipient {
    pub email: String,
    pub name: Option<String>,
    pub unsubscribe_token: String,
}

/// The recipients and why others were left out (counts only: no personal data in logs).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Selection {
    pub recipients: Vec<Recipient>,
    /// Confirmed and interested, but the host gave no unsubscribe token.
    pub without_token: usize,
    /// Confirmed and interested, but no usable e-mail address.
    pub bad_email: usize,
    /// The same address twice (the first one is kept).
    pub duplicates: usize,
}

/// A plausible single address: `local@domain`, no spaces, quotes, brackets or separators.
pub fn plausible_email(e: &str) -> bool {
    match e.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !e
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\"\\".contains(c))
        }
        None => false,
    }
}

/// Subscribers who confirmed (double opt-in: `consent.confirmed_at`), did not unsubscribe
/// (`unsubscribed_at`), and whose topics (absent: all) meet `topics`; in the given order.
pub fn select_recipients(subscribers: &[Value], topics: &[String]) -> Selection {
    let mut sel = Selection::default();
    for s in subscribers {
        let confirmed = s
            .pointer("/consent/confirmed_at")
            .and_then(Value::as_str)
            .is_some_and(|c| !c.trim().is_empty());
        let unsubscribed = match s.get("unsubscribed_at") {
            None | Some(Value::Null) => false,
            Some(Value::String(u)) => !u.trim().is_empty(),
            Some(_) => true,
        };
        if !confirmed || unsubscribed {
            continue;
        }
        let wanted = topics_of(s);
        if !wanted.is_empty() && !intersects(&wanted, topics) {
            continue;
        }
        let Some(email) = text(s, "email").filter(|e| plausible_email(e)) else {
            sel.bad_email += 1;
            continue;
        };
        let Some(token) = text(s, "unsubscribe_token") else {
            sel.without_token += 1;
            continue;
        };
        if sel
            .recipients
            .iter()
            .any(|r| r.email.eq_ignore_ascii_case(&email))
        {
            sel.duplicates += 1;
            continue;
        }
        let name = text(s, "name")
            .map(|n| crate::mime::header_safe(&n))
            .filter(|n| !n.is_empty());
        sel.recipients.push(Recipient {
            email,
            name,
            unsubscribe_token: token,
        });
    }
    sel
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dates::parse_ymd;
    use crate::texts::{DE, EN};
    use verbund_plugin::serde_json::json;

    fn d(s: &str) -> chrono::NaiveDate {
        parse_ymd(s).unwrap()
    }

    fn story(title: &str, at: &str, topics: &[&str]) -> Story {
        Story::from_json(
            &json!({"title": title, "slug": "s", "teaser": "t", "kind": "news", "topics": topics}),
            Some(at),
        )
        .unwrap()
    }

    fn event(title: &str, starts: &str, topics: &[&str]) -> Event {
        Event::from_json(&json!({
            "title": title, "slug": "e", "starts_at": starts, "ends_at": starts,
            "timezone": "Europe/Berlin", "format": "online", "topics": topics
        }))
        .unwrap()
    }

    #[test]
    fn stories_in_utc_range_newest_first() {
        let params = Params {
            since: d("2026-11-01"),
            until: d("2026-11-22"),
            events_from: d("2026-11-01"),
            events_until: d("2027-01-21"),
            topics: None,
            locale: "de".into(),
        };
        let got = select_stories(
            vec![
                story("before", "2026-10-31T23:59:59+00:00", &["cloud"]),
                story("first", "2026-11-01T00:00:00+00:00", &["cloud"]),
                story("last", "2026-11-22T23:59:59Z", &["iot"]),
                story("after", "2026-11-23T00:00:00Z", &["iot"]),
                // 00:30 in Berlin on the 23rd is still the 22nd in UTC.
                story("utc", "2026-11-23T00:30:00+01:00", &["iot"]),
            ],
            &params,
        );
        let titles: Vec<&str> = got.iter().map(|s| s.title.as_str()).collect();
        assert_eq!(titles, ["last", "utc", "first"]);

        let narrowed = Params {
            topics: Some(vec!["cloud".into()]),
            ..params
        };
        let got = select_stories(
            vec![
                story("a", "2026-11-02T08:00:00Z", &["cloud", "iot"]),
                story("b", "2026-11-03T08:00:00Z", &["iot"]),
            ],
            &narrowed,
        );
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].title, "a");
        // Without title, slug or publication time, a story is not used.
        assert!(Story::from_json(&json!({"title": "x", "slug": "x"}), None).is_none());
        assert!(Story::from_json(&json!({"slug": "x"}), Some("2026-11-02T08:00:00Z")).is_none());
    }

    #[test]
    fn events_by_local_day_sorted_by_start() {
        let params = Params {
            since: d("2026-11-01"),
            until: d("2026-11-22"),
            events_from: d("2026-11-01"),
            events_until: d("2026-12-31"),
            topics: Some(vec!["cloud".into(), "iot".into()]),
            locale: "de".into(),
        };
        let got = select_events(
            vec![
                event("late", "2026-12-31T23:30:00+01:00", &["cloud"]),
                event("too late", "2027-01-01T00:00:00+01:00", &["cloud"]),
                event("early", "2026-11-01T00:15:00+01:00", &["iot"]),
                event(
                    "other topic",
                    "2026-11-10T10:00:00+01:00",
                    &["e-government"],
                ),
                event("mid", "2026-11-10T10:00:00+01:00", &["iot", "datenschutz"]),
                event("too early", "2026-10-31T23:00:00+01:00", &["iot"]),
            ],
            &params,
        );
        let titles: Vec<&str> = got.iter().map(|e| e.title.as_str()).collect();
        assert_eq!(titles, ["early", "mid", "late"]);
    }

    #[test]
    fn topics_of_the_issue() {
        let params = Params {
            since: d("2026-11-01"),
            until: d("2026-11-22"),
            events_from: d("2026-11-01"),
            events_until: d("2026-12-31"),
            topics: None,
            locale: "de".into(),
        };
        let s = [story("a", "2026-11-02T08:00:00Z", &["iot", "cloud"])];
        let e = [event(
            "b",
            "2026-11-10T10:00:00+01:00",
            &["cloud", "datenschutz"],
        )];
        assert_eq!(
            issue_topics(&params, &s, &e),
            ["cloud", "datenschutz", "iot"]
        );
        let narrowed = Params {
            topics: Some(vec!["fachkraefte".into()]),
            ..params
        };
        assert_eq!(issue_topics(&narrowed, &s, &e), ["fachkraefte"]);
    }

    #[test]
    fn venue_and_place() {
        let e = Event::from_json(&json!({
            "title": "MV", "slug": "mv", "starts_at": "2026-10-29T15:00:00+01:00",
            "format": "hybrid",
            "venue": {"name": "Datenwerk", "street": "Nonnenstraße 42", "postal_code": "04229", "city": "Leipzig"}
        }))
        .unwrap();
        assert_eq!(
            e.place(&DE),
            "Vor Ort und online: Datenwerk, Nonnenstraße 42, 04229 Leipzig"
        );
        assert_eq!(
            e.place(&EN),
            "On site and online: Datenwerk, Nonnenstraße 42, 04229 Leipzig"
        );
        assert_eq!(e.ends, None);
        assert_eq!(e.timezone, "UTC");
        let on_site = Event {
            format: "on_site".into(),
            ..e.clone()
        };
        assert_eq!(
            on_site.place(&DE),
            "Ort: Datenwerk, Nonnenstraße 42, 04229 Leipzig"
        );
        let online = Event {
            format: "online".into(),
            venue: None,
            ..e
        };
        assert_eq!(online.place(&DE), "Online");
        assert_eq!(online.place(&EN), "Online");
        assert_eq!(
            on_site.place(&EN),
            "Venue: Datenwerk, Nonnenstraße 42, 04229 Leipzig"
        );
        assert_eq!(
            Event {
                venue: None,
                ..on_site.clone()
            }
            .place(&EN),
            "On site"
        );
        assert!(
            Event::from_json(&json!({"title": "x", "slug": "x", "starts_at": "morgen"})).is_none()
        );
    }

    #[test]
    fn recipients_need_confirmed_consent_and_matching_topics() {
        let subs = vec![
            // confirmed, topics match
            json!({"email": "anna@example.org", "name": "Anna Wendt", "topics": ["it-sicherheit", "cloud"],
                   "consent": {"requested_at": "x", "confirmed_at": "2026-03-02T10:21:47Z"}, "unsubscribe_token": "tA"}),
            // confirmed, other topics
            json!({"email": "jens@example.org", "topics": ["iot"],
                   "consent": {"confirmed_at": "2026-05-20T07:02:13Z"}, "unsubscribe_token": "tJ"}),
            // unconfirmed
            json!({"email": "k@example.org", "consent": {"requested_at": "x"}, "unsubscribe_token": "tK"}),
            // unsubscribed
            json!({"email": "f@example.org", "consent": {"confirmed_at": "x"}, "unsubscribed_at": "2026-10-02T17:12:40Z", "unsubscribe_token": "tF"}),
            // confirmed, no topics: everything; null unsubscribed_at counts as subscribed
            json!({"email": "all@example.org", "consent": {"confirmed_at": "x"}, "unsubscribed_at": null, "unsubscribe_token": "tX"}),
            // the same address again
            json!({"email": "ANNA@example.org", "consent": {"confirmed_at": "x"}, "unsubscribe_token": "tA2"}),
            // no token from the host
            json!({"email": "nt@example.org", "consent": {"confirmed_at": "x"}}),
            // unusable address
            json!({"email": "a@b@example.org\r\nBcc: x", "consent": {"confirmed_at": "x"}, "unsubscribe_token": "t"}),
            json!({"consent": {"confirmed_at": "x"}, "unsubscribe_token": "t"}),
            // empty confirmed_at
            json!({"email": "e@example.org", "consent": {"confirmed_at": ""}, "unsubscribe_token": "t"}),
        ];
        let sel = select_recipients(&subs, &["cloud".to_string()]);
        let emails: Vec<&str> = sel.recipients.iter().map(|r| r.email.as_str()).collect();
        assert_eq!(emails, ["anna@example.org", "all@example.org"]);
        assert_eq!(sel.recipients[0].name.as_deref(), Some("Anna Wendt"));
        assert_eq!(sel.recipients[0].unsubscribe_token, "tA");
        assert_eq!(sel.recipients[1].name, None);
        assert_eq!(
            (sel.without_token, sel.bad_email, sel.duplicates),
            (1, 2, 1)
        );
        // An issue without topics reaches only those who want everything.
        let sel = select_recipients(&subs, &[]);
        let emails: Vec<&str> = sel.recipients.iter().map(|r| r.email.as_str()).collect();
        assert_eq!(emails, ["all@example.org", "ANNA@example.org"]);
    }

    #[test]
    fn email_plausibility() {
        assert!(plausible_email("anna.wendt@example.org"));
        assert!(plausible_email("a+b@sub.example.org"));
        for bad in [
            "",
            "a",
            "@example.org",
            "a@example",
            "a@.org",
            "a b@example.org",
            "a@example.org,b@example.org",
            "<a@example.org>",
        ] {
            assert!(!plausible_email(bad), "{bad}");
        }
    }
}
