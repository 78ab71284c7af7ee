//! The export's inputs: parameters, settings, stories, events and recipients, read from
//! plain values (no host calls), and the selection rules.

use chrono::{DateTime, Days, FixedOffset, NaiveDate, Utc};
use verbund_plugin::Value;

use crate::dates::{parse_time, parse_ymd};

/// Events this many days after `until` are included when `events_until` is not given.
pub const EVENTS_DAYS: u64 = 60;

/// The parameters of the export `issue`, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub since: NaiveDate,
    pub until: NaiveDate,
    /// Events are "upcoming" from here: the later of `since` and the day of the export.
    pub events_from: NaiveDate,
    pub events_until: NaiveDate,
    /// `Some` when the `topics` parameter narrowed the issue.
    pub topics: Option<Vec<String>>,
}

const KNOWN_PARAMS: [&str; 4] = ["since", "until", "topics", "events_until"];

fn bad_date(name: &str, value: &str, required: bool) -> String {
    let what = if value.is_empty() {
        if required {
            "fehlt".to_string()
        } else {
            "ist leer".to_string()
        }
    } else {
        format!("ist ungültig („{value}“)")
    };
    let what_en = if value.is_empty() {
        if required { "is missing" } else { "is empty" }.to_string()
    } else {
        format!("is invalid ({value:?})")
    };
    format!(
        "Parameter „{name}“ {what}: erwartet wird ein Datum im Format JJJJ-MM-TT, z. B. \
         2026-11-01. / Parameter \"{name}\" {what_en}: expected a date YYYY-MM-DD, e.g. \
         2026-11-01."
    )
}

/// Treats an absent, empty or JSON-`null` value (the API turns `null` into `"null"`) as
/// not given.
fn given<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    verbund_plugin::param(params, key)
        .map(str::trim)
        .filter(|v| !v.is_empty() && *v != "null")
}

fn is_slug(s: &str) -> bool {
    !s.is_empty()
        && s.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// Parses `topics`: comma-separated slugs (`cloud,it-sicherheit`) or a JSON array of them.
fn parse_topics(raw: &str) -> Result<Vec<String>, String> {
    let items: Vec<String> = if raw.starts_with('[') {
        match verbund_plugin::serde_json::from_str::<Vec<String>>(raw) {
            Ok(v) => v,
            Err(_) => vec![raw.to_string()],
        }
    } else {
        raw.split(',').map(str::to_string).collect()
    };
    let mut out: Vec<String> = Vec::new();
    for t in items {
        let t = t.trim();
        if t.is_empty() {
            continue;
        }
        if !is_slug(t) {
            return Err(format!(
                "Parameter „topics“ enthält „{t}“: erwartet werden Themen-Kürzel, durch Kommas \
                 getrennt, z. B. cloud,it-sicherheit. / Parameter \"topics\" contains {t:?}: \
                 expected comma-separated topic slugs, e.g. cloud,it-sicherheit."
            ));
        }
        if !out.iter().any(|o| o == t) {
            out.push(t.to_string());
        }
    }
    if out.is_empty() {
        return Err(
            "Parameter „topics“ enthält kein Thema: erwartet werden Themen-Kürzel, durch Kommas \
             getrennt, z. B. cloud,it-sicherheit (oder den Parameter weglassen). / Parameter \
             \"topics\" names no topic: expected comma-separated topic slugs, e.g. \
             cloud,it-sicherheit (or leave it out)."
                .into(),
        );
    }
    Ok(out)
}

/// Checks the parameters; `today` is the default for `until` (the date of the host's
/// `now()`).
pub fn parse_params(params: &[(String, String)], today: NaiveDate) -> Result<Params, String> {
    if let Some((k, _)) = params
        .iter()
        .find(|(k, _)| !KNOWN_PARAMS.contains(&k.as_str()))
    {
        return Err(format!(
            "Unbekannter Parameter „{k}“; erlaubt sind since, until, topics, events_until. / \
             Unknown parameter {k:?}; allowed: since, until, topics, events_until."
        ));
    }
    let date = |name: &str, required: bool| -> Result<Option<NaiveDate>, String> {
        match verbund_plugin::param(params, name).map(str::trim) {
            None | Some("null") if !required => Ok(None),
            None => Err(bad_date(name, "", true)),
            Some(v) if v.is_empty() && !required => Ok(None),
            Some(v) => parse_ymd(v)
                .map(Some)
                .ok_or_else(|| bad_date(name, v, required)),
        }
    };
    let since = date("since", true)?.expect("required");
    let until = date("until", false)?.unwrap_or(today);
    if since > until {
        return Err(format!(
            "Parameter „since“ ({since}) liegt nach „until“ ({until}): erwartet wird since ≤ \
             until, beide im Format JJJJ-MM-TT. / Parameter \"since\" ({since}) is after \
             \"until\" ({until}): expected since <= until, both YYYY-MM-DD."
        ));
    }
    let events_until = match date("events_until", false)? {
        Some(d) => d,
        None => until
            .checked_add_days(Days::new(EVENTS_DAYS))
            .unwrap_or(NaiveDate::MAX),
    };
    if events_until < since {
        return Err(format!(
            "Parameter „events_until“ ({events_until}) liegt vor „since“ ({since}): erwartet \
             wird ein Datum ab since im Format JJJJ-MM-TT. / Parameter \"events_until\" \
             ({events_until}) is before \"since\" ({since}): expected a date YYYY-MM-DD not \
             before since."
        ));
    }
    let topics = given(params, "topics").map(parse_topics).transpose()?;
    Ok(Params {
        since,
        until,
        events_from: since.max(today),
        events_until,
        topics,
    })
}

/// The plugin settings (`verbund plugin configure newsletter-export --set KEY=VALUE`).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Base URL of the public website, ending in `/`.
    pub website: String,
    /// Base URL of the API server (unsubscribe links), ending in `/`.
    pub api: String,
    /// The sender, `Name <addr>`.
    pub from: String,
    /// The subject; `None`: `Newsletter – {Monat Jahr}` of `until`.
    pub subject: Option<String>,
    /// Name in the footer.
    pub organisation: String,
    /// Postal address in the footer (the Impressum details a newsletter must carry).
    pub address: Option<String>,
    /// Link to the privacy policy, in the footer.
    pub privacy_url: Option<String>,
    /// German labels of topics and story kinds, from the story schema.
    pub labels: Labels,
}

/// Labels of enum values, read from the schema (`x-verbund.labels`), where they are defined
/// once for the server, the website and this plugin.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Labels {
    pub topics: std::collections::BTreeMap<String, String>,
    pub kinds: std::collections::BTreeMap<String, String>,
}

impl Labels {
    /// The labels in `locale` of the story schema's `topics` and `kind`.
    pub fn from_story_schema(schema: &Value, locale: &str) -> Labels {
        Labels {
            topics: verbund_plugin::labels(schema, "topics", locale),
            kinds: verbund_plugin::labels(schema, "kind", locale),
        }
    }

    /// The label of a topic slug, else the slug.
    pub fn topic<'a>(&'a self, slug: &'a str) -> &'a str {
        self.topics.get(slug).map_or(slug, String::as_str)
    }

    /// The label of a story kind, else „Geschichte“.
    pub fn kind(&self, kind: &str) -> &str {
        self.kinds.get(kind).map_or("Geschichte", String::as_str)
    }
}

pub const DEFAULT_WEBSITE: &str = "http://127.0.0.1:8080/";
pub const DEFAULT_FROM: &str = "Cluster IT Mitteldeutschland <newsletter@cluster-it.example>";
pub const DEFAULT_ORGANISATION: &str = "Cluster IT Mitteldeutschland e. V.";

/// `base` with exactly one trailing `/`.
pub fn with_slash(base: &str) -> String {
    format!("{}/", base.trim().trim_end_matches('/'))
}

impl Settings {
    /// Reads the settings through `config` (blank values count as unset).
    pub fn from_lookup(config: impl Fn(&str) -> Option<String>) -> Settings {
        let get = |k: &str| {
            config(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let website = with_slash(&get("website").unwrap_or_else(|| DEFAULT_WEBSITE.into()));
        let api = get("api").map_or_else(|| website.clone(), |a| with_slash(&a));
        Settings {
            website,
            api,
            from: get("from").unwrap_or_else(|| DEFAULT_FROM.into()),
            subject: get("subject"),
            organisation: get("organisation").unwrap_or_else(|| DEFAULT_ORGANISATION.into()),
            address: get("address"),
            privacy_url: get("privacy_url"),
            labels: Labels::default(),
        }
    }

    /// These settings with the labels of topics and story kinds.
    pub fn with_labels(mut self, labels: Labels) -> Settings {
        self.labels = labels;
        self
    }

    /// `{website}#/geschichten/{slug}`.
    pub fn story_url(&self, slug: &str) -> String {
        format!("{}#/geschichten/{}", self.website, percent_encode(slug))
    }

    /// `{website}#/veranstaltungen/{slug}`.
    pub fn event_url(&self, slug: &str) -> String {
        format!("{}#/veranstaltungen/{}", self.website, percent_encode(slug))
    }

    /// `{api}api/v1/newsletter/unsubscribe?token={token}`.
    pub fn unsubscribe_url(&self, token: &str) -> String {
        format!(
            "{}api/v1/newsletter/unsubscribe?token={}",
            self.api,
            percent_encode(token)
        )
    }
}

/// Percent-encodes everything but the unreserved characters of RFC 3986.
pub fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

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

    /// `Ort: …`, `Online`, `Vor Ort und online: …`.
    pub fn place(&self) -> String {
        let venue = self
            .venue
            .as_ref()
            .map(Venue::line)
            .filter(|l| !l.is_empty());
        match (self.format.as_str(), venue) {
            ("online", _) => "Online".into(),
            ("hybrid", Some(v)) => format!("Vor Ort und online: {v}"),
            ("hybrid", None) => "Vor Ort und online".into(),
            (_, Some(v)) => format!("Ort: {v}"),
            (_, None) => "Vor Ort".into(),
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
    use verbund_plugin::serde_json::json;

    fn d(s: &str) -> NaiveDate {
        parse_ymd(s).unwrap()
    }

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn params_defaults_and_errors() {
        let today = d("2026-11-22");
        let got = parse_params(&p(&[("since", "2026-11-01")]), today).unwrap();
        assert_eq!(
            got,
            Params {
                since: d("2026-11-01"),
                until: today,
                events_from: d("2026-11-22"),
                events_until: d("2027-01-21"),
                topics: None
            }
        );
        let got = parse_params(
            &p(&[
                ("since", "2026-10-01"),
                ("until", "2026-10-31"),
                ("topics", " cloud, it-sicherheit ,cloud"),
                ("events_until", "2026-12-31"),
            ]),
            today,
        )
        .unwrap();
        assert_eq!(got.until, d("2026-10-31"));
        assert_eq!(got.events_until, d("2026-12-31"));
        assert_eq!(
            got.topics,
            Some(vec!["cloud".to_string(), "it-sicherheit".to_string()])
        );
        // A JSON array (the API passes non-strings as JSON text) and null work too.
        let got = parse_params(
            &p(&[
                ("since", "2026-10-01"),
                ("topics", "[\"iot\"]"),
                ("until", "null"),
            ]),
            today,
        )
        .unwrap();
        assert_eq!(got.topics, Some(vec!["iot".to_string()]));
        assert_eq!(got.until, today);

        let err = |pairs: &[(&str, &str)]| parse_params(&p(pairs), today).unwrap_err();
        let e = err(&[]);
        assert!(
            e.contains("„since“ fehlt") && e.contains("YYYY-MM-DD"),
            "{e}"
        );
        let e = err(&[("since", "1.11.2026")]);
        assert!(
            e.contains("since") && e.contains("1.11.2026") && e.contains("JJJJ-MM-TT"),
            "{e}"
        );
        let e = err(&[("since", "2026-11-01"), ("until", "2026-13-01")]);
        assert!(e.contains("„until“"), "{e}");
        let e = err(&[("since", "2026-11-01"), ("events_until", "soon")]);
        assert!(e.contains("events_until"), "{e}");
        let e = err(&[("since", "2026-11-23")]);
        assert!(e.contains("since ≤ until"), "{e}");
        let e = err(&[("since", "2026-11-01"), ("events_until", "2026-10-01")]);
        assert!(e.contains("events_until"), "{e}");
        let e = err(&[("since", "2026-11-01"), ("topics", "Cloud Computing")]);
        assert!(
            e.contains("topics") && e.contains("cloud,it-sicherheit"),
            "{e}"
        );
        let e = err(&[("since", "2026-11-01"), ("topics", " , ")]);
        assert!(e.contains("topics"), "{e}");
        let e = err(&[("since", "2026-11-01"), ("topic", "cloud")]);
        assert!(e.contains("Unbekannter Parameter „topic“"), "{e}");
    }

    #[test]
    fn settings_defaults_and_urls() {
        let s = Settings::from_lookup(|_| None);
        assert_eq!(s.website, "http://127.0.0.1:8080/");
        assert_eq!(s.api, s.website);
        assert_eq!(s.from, DEFAULT_FROM);
        assert_eq!(s.organisation, DEFAULT_ORGANISATION);
        assert_eq!(s.subject, None);
        assert_eq!(
            s.story_url("cloud-umzug"),
            "http://127.0.0.1:8080/#/geschichten/cloud-umzug"
        );
        assert_eq!(
            s.event_url("mv-2026"),
            "http://127.0.0.1:8080/#/veranstaltungen/mv-2026"
        );
        let s = Settings::from_lookup(|k| match k {
            "website" => Some("https://cluster-it.example/".into()),
            "api" => Some("https://cms.cluster-it.example".into()),
            "subject" => Some("  ".into()),
            _ => None,
        });
        assert_eq!(s.subject, None);
        assert_eq!(
            s.unsubscribe_url("a.b_c-d~e+/="),
            "https://cms.cluster-it.example/api/v1/newsletter/unsubscribe?token=a.b_c-d~e%2B%2F%3D"
        );
        let s = Settings::from_lookup(|k| (k == "website").then(|| "https://w.example//".into()));
        assert_eq!(s.website, "https://w.example/");
        assert_eq!(
            s.unsubscribe_url("t"),
            "https://w.example/api/v1/newsletter/unsubscribe?token=t"
        );
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
            e.place(),
            "Vor Ort und online: Datenwerk, Nonnenstraße 42, 04229 Leipzig"
        );
        assert_eq!(e.ends, None);
        assert_eq!(e.timezone, "UTC");
        let on_site = Event {
            format: "on_site".into(),
            ..e.clone()
        };
        assert_eq!(
            on_site.place(),
            "Ort: Datenwerk, Nonnenstraße 42, 04229 Leipzig"
        );
        let online = Event {
            format: "online".into(),
            venue: None,
            ..e
        };
        assert_eq!(online.place(), "Online");
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

    #[test]
    fn percent_encoding() {
        assert_eq!(percent_encode("abc-DEF_1.2~"), "abc-DEF_1.2~");
        assert_eq!(percent_encode("ä /?#&="), "%C3%A4%20%2F%3F%23%26%3D");
    }
}
