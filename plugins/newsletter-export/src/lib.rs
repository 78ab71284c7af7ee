//! `newsletter-export` — the reference export plugin: one newsletter issue of the members'
//! new stories and the upcoming events, ready for a mail service.
//!
//! Export `issue`, parameters (all strings):
//!
//! | param | | |
//! |---|---|---|
//! | `since` | required | `YYYY-MM-DD`: stories published (UTC) from this day on |
//! | `until` | optional | `YYYY-MM-DD`, default the date of the host's `now()`: last day of stories |
//! | `topics` | optional | topic slugs, comma-separated (`cloud,it-sicherheit`): only items about one of them |
//! | `events_until` | optional | `YYYY-MM-DD`, default `until` + 60 days: upcoming events starting (local day) from the later of `since` and today up to `events_until` |
//! | `locale` | optional | `de` (default), `en`, `de-AT`, …: the issue's language — its stories, events, recipients, labels and texts |
//!
//! Artifacts, in this order: `newsletter.html` (e-mail-safe HTML; footer link
//! `{{unsubscribe_url}}` for the mail service to replace), `newsletter.txt`,
//! `recipients.csv` (`email,name,unsubscribe_url`), `sample.eml` (a complete MIME message
//! for the first recipient, RFC 8058 one-click unsubscribe headers) and `summary.json`.
//!
//! Recipients: subscribers of the issue's locale (the entry's `locale`) with double-opt-in
//! consent (`consent.confirmed_at`), not unsubscribed, whose topics (absent: all) meet the
//! issue's topics. This needs the grant `read:subscriber+personal`; the host adds each
//! subscriber's `unsubscribe_token`.
//!
//! Languages: stories and events are those of the issue's locale, topic and kind labels come
//! from the schema in that locale (else German), and the fixed texts are German for `de`
//! (and `de-AT`, …) and English for every other locale (see [`texts`]).
//!
//! Settings (`verbund plugin configure newsletter-export --set KEY=VALUE`): `website`,
//! `api`, `from`, `subject`, `organisation`, `address`, `privacy_url` (see [`Settings`]).
//!
//! Everything but the thin [`Plugin::export`] glue is plain functions with native tests
//! (`cd plugins && cargo test -p newsletter-export`).

pub mod dates;
pub mod mime;
pub mod model;
pub mod params;
pub mod render;
pub mod settings;
pub mod texts;

use chrono::{DateTime, Datelike, FixedOffset, Timelike, Utc};
use verbund_plugin::serde_json::json;
use verbund_plugin::*;

pub use model::{Event, Recipient, Selection, Story};
pub use params::Params;
pub use settings::Settings;

/// The one export this plugin offers.
pub const EXPORT: &str = "issue";

/// Page size for the host's `query` (the host caps a query at 1000 entries).
const PAGE: u32 = 1000;
/// At most this many pages per content type (100,000 entries).
const MAX_PAGES: usize = 100;

/// Shown as the recipient of `sample.eml` when nobody would receive a German issue (the
/// English one: [`texts::EN`]`.placeholder_recipient`).
pub const PLACEHOLDER_RECIPIENT: &str = texts::DE.placeholder_recipient;
/// The unsubscribe token of that placeholder (the link is only an illustration).
pub const PLACEHOLDER_TOKEN: &str = texts::DE.placeholder_token;

/// One entry as the export reads it: its fields and the metadata it needs.
#[derive(Debug, Default, Clone)]
pub struct Item {
    /// The entry's fields (`Entry::json`).
    pub data: Value,
    /// The entry's locale (`de`, `en`, `de-AT`).
    pub locale: String,
    /// When it was published (stories).
    pub published_at: Option<String>,
}

impl Item {
    /// An entry of `locale` with these fields, not published.
    pub fn new(locale: &str, data: Value) -> Item {
        Item {
            data,
            locale: locale.to_string(),
            published_at: None,
        }
    }

    /// The same, published at `at` (RFC 3339).
    pub fn published(mut self, at: &str) -> Item {
        self.published_at = Some(at.to_string());
        self
    }

    fn from_entry(e: &Entry) -> Item {
        Item {
            data: e.json(),
            locale: e.locale.clone(),
            published_at: e.published_at.clone(),
        }
    }
}

/// The entries the export reads, as plain values. [`build`] uses only those of the issue's
/// locale (the host is asked for only those, too).
#[derive(Debug, Default, Clone)]
pub struct Inputs {
    /// Published stories.
    pub stories: Vec<Item>,
    /// Published events.
    pub events: Vec<Item>,
    /// Subscribers (with personal data and `unsubscribe_token`).
    pub subscribers: Vec<Item>,
}

/// The result of [`build`].
pub struct Built {
    pub artifacts: Vec<Artifact>,
    pub stories: usize,
    pub events: usize,
    /// Published entries left out because they lack a title, slug or valid time.
    pub unusable_items: usize,
    pub selection: Selection,
}

fn rfc2822(t: &DateTime<FixedOffset>) -> String {
    t.to_rfc2822()
}

fn message_id(now: &DateTime<FixedOffset>, parts: &[&str], from_addr: &str) -> String {
    let u = now.with_timezone(&Utc);
    format!(
        "<newsletter.{:04}{:02}{:02}{:02}{:02}{:02}.{:016x}@{}>",
        u.year(),
        u.month(),
        u.day(),
        u.hour(),
        u.minute(),
        u.second(),
        mime::fnv64(parts),
        mime::domain_of(from_addr)
    )
}

/// Builds the issue from plain inputs: no host calls.
pub fn build(
    params: &Params,
    now: &DateTime<FixedOffset>,
    settings: &Settings,
    inputs: Inputs,
) -> Built {
    let texts = texts::for_locale(&params.locale);
    let in_locale = |items: Vec<Item>| -> Vec<Item> {
        items
            .into_iter()
            .filter(|i| i.locale == params.locale)
            .collect()
    };
    let (stories, events) = (in_locale(inputs.stories), in_locale(inputs.events));
    let subscribers: Vec<Value> = in_locale(inputs.subscribers)
        .into_iter()
        .map(|i| i.data)
        .collect();
    let n_stories = stories.len();
    let n_events = events.len();
    let stories: Vec<Story> = stories
        .iter()
        .filter_map(|i| Story::from_json(&i.data, i.published_at.as_deref()))
        .collect();
    let events: Vec<Event> = events
        .iter()
        .filter_map(|i| Event::from_json(&i.data))
        .collect();
    let unusable_items = (n_stories - stories.len()) + (n_events - events.len());
    let stories = model::select_stories(stories, params);
    let events = model::select_events(events, params);
    let topics = model::issue_topics(params, &stories, &events);
    let selection = model::select_recipients(&subscribers, &topics);

    let issue = render::Issue {
        params,
        settings,
        texts,
        subject: render::subject(settings, params),
        stories: &stories,
        events: &events,
    };
    let html = render::html(&issue);
    let text = render::text(&issue);
    let csv = render::recipients_csv(&selection.recipients, settings);

    // The sample message, for the first recipient.
    let (to_name, to_addr, token) = match selection.recipients.first() {
        Some(r) => (r.name.clone(), r.email.clone(), r.unsubscribe_token.clone()),
        None => (
            None,
            texts.placeholder_recipient.to_string(),
            texts.placeholder_token.to_string(),
        ),
    };
    let unsubscribe = settings.unsubscribe_url(&token);
    let (from_name, from_addr) = mime::split_mailbox(&settings.from);
    let now_text = now.to_rfc3339();
    let eml = mime::build_message(&mime::Message {
        from: &mime::mailbox(from_name.as_deref(), &from_addr),
        to: &mime::mailbox(to_name.as_deref(), &to_addr),
        subject: &issue.subject,
        date: &rfc2822(now),
        message_id: &message_id(now, &[&now_text, &to_addr, &issue.subject], &from_addr),
        list_unsubscribe: &unsubscribe,
        text: &text.replace(render::UNSUBSCRIBE_PLACEHOLDER, &unsubscribe),
        html: &html.replace(
            render::UNSUBSCRIBE_PLACEHOLDER,
            &render::escape(&unsubscribe),
        ),
    });

    let summary = json!({
        "since": params.since.to_string(),
        "until": params.until.to_string(),
        "events_from": params.events_from.to_string(),
        "events_until": params.events_until.to_string(),
        "topics": topics,
        "stories": stories.len(),
        "events": events.len(),
        "items": stories.len() + events.len(),
        "recipients": selection.recipients.len(),
    });
    let mut summary_text = verbund_plugin::serde_json::to_string_pretty(&summary)
        .unwrap_or_else(|_| summary.to_string());
    summary_text.push('\n');

    Built {
        artifacts: vec![
            Artifact::new("newsletter.html", "text/html; charset=utf-8", html),
            Artifact::new("newsletter.txt", "text/plain; charset=utf-8", text),
            Artifact::new("recipients.csv", "text/csv; charset=utf-8", csv),
            Artifact::new("sample.eml", "message/rfc822", eml),
            Artifact::new("summary.json", "application/json", summary_text),
        ],
        stories: stories.len(),
        events: events.len(),
        unusable_items,
        selection,
    }
}

/// A host error as a German + English message.
fn host_failed(ty: &str, e: &HostError) -> String {
    match e {
        HostError::NotGranted(m) => format!(
            "Das Plugin darf „{ty}“ nicht lesen ({m}). Ein Admin erteilt die Freigabe beim \
             Installieren (story, event; subscriber mit personenbezogenen Daten). / The plugin \
             may not read {ty:?} ({m}); an admin grants it on install."
        ),
        other => format!(
            "„{ty}“ konnte nicht gelesen werden ({}: {}). / Reading {ty:?} failed ({}: {}).",
            other.kind(),
            other.message(),
            other.kind(),
            other.message()
        ),
    }
}

/// All entries of `ty` matching `q`, page by page with the host's cursor.
fn query_all(ty: &str, q: Query) -> Result<Vec<Entry>, String> {
    let max = PAGE as usize * MAX_PAGES;
    q.limit(PAGE)
        .all(max)
        .map_err(|e| host_failed(ty, &e))?
        .ok_or_else(|| {
            format!(
                "Zu viele Einträge vom Typ „{ty}“ (mehr als {max}). / Too many {ty:?} entries (more than {max})."
            )
        })
}

struct NewsletterExport;

impl Plugin for NewsletterExport {
    fn describe() -> Manifest {
        Manifest::new(
            "newsletter-export",
            env!("CARGO_PKG_VERSION"),
            "Stellt eine Newsletter-Ausgabe mit den neuen Geschichten und kommenden \
             Veranstaltungen zusammen: als E-Mail-taugliches HTML, als Text, mit der Liste der \
             Empfängerinnen und Empfänger (nur bestätigte Anmeldungen, mit Abmeldelink) und \
             einer Beispiel-E-Mail.",
        )
        .grant("story")
        .grant("event")
        .grant_personal_data("subscriber")
        .export(
            EXPORT,
            "Newsletter-Ausgabe: HTML, Text, Empfängerliste (CSV), Beispiel-E-Mail (.eml)",
        )
    }

    fn export(name: String, params: Vec<(String, String)>) -> Result<Vec<Artifact>, String> {
        if name != EXPORT {
            return Err(format!(
                "Unbekannter Export „{name}“; dieses Plugin bietet „{EXPORT}“. / Unknown export \
                 {name:?}; this plugin offers {EXPORT:?}."
            ));
        }
        let now_text = now();
        let now = dates::parse_time(&now_text)
            .ok_or_else(|| format!("Ungültige Uhrzeit vom Host: {now_text:?}"))?;
        let params = params::parse_params(&params, now.with_timezone(&Utc).date_naive())?;
        let locale = params.locale.as_str();
        // Topic and kind labels are defined once, in the schema.
        let story_schema = schema("story").map_err(|e| host_failed("story", &e))?;
        let settings = Settings::from_lookup(config)
            .with_labels(settings::Labels::from_story_schema(&story_schema, locale))
            .for_locale(locale);
        let published = |ty: &str| query(ty).eq("state", "published").eq("locale", locale);
        let stories = query_all("story", published("story"))?;
        let events = query_all("event", published("event"))?;
        let subscribers = query_all("subscriber", query("subscriber").eq("locale", locale))?;
        let items = |entries: &[Entry]| entries.iter().map(Item::from_entry).collect();
        let inputs = Inputs {
            stories: items(&stories),
            events: items(&events),
            subscribers: items(&subscribers),
        };
        let built = build(&params, &now, &settings, inputs);
        let sel = &built.selection;
        // Counts only: no personal data in the server log.
        log::info(format!(
            "issue {} {}..{}: {} stories, {} events, {} recipients",
            params.locale,
            params.since,
            params.until,
            built.stories,
            built.events,
            sel.recipients.len()
        ));
        if built.unusable_items > 0 {
            log::warn(format!(
                "{} published stories/events left out: no title, slug or valid date",
                built.unusable_items
            ));
        }
        if sel.without_token + sel.bad_email + sel.duplicates > 0 {
            log::warn(format!(
                "subscribers left out: {} without unsubscribe token, {} with an unusable \
                 address, {} duplicate addresses",
                sel.without_token, sel.bad_email, sel.duplicates
            ));
        }
        Ok(built.artifacts)
    }
}

export_plugin!(NewsletterExport);

#[cfg(test)]
mod tests;
