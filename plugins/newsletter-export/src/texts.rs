//! The fixed texts of an issue, per language: German (`de`, `de-AT`, …) and English
//! (`en`, `en-GB`, … and every other locale, for which there are no texts of their own).
//!
//! Everything a reader sees that does not come from the entries or the settings is here:
//! headings, greetings, link texts, the footer, month and weekday names and how dates and
//! times are written.

/// One language's texts.
#[derive(Debug, PartialEq, Eq)]
pub struct Texts {
    /// The language of these texts (`de`, `en`).
    pub lang: &'static str,
    /// January first.
    pub months: [&'static str; 12],
    /// Monday first, as chrono's `num_days_from_monday`.
    pub weekdays: [&'static str; 7],
    /// After the day of the month: `29.` Oktober / `29` October.
    pub day_suffix: &'static str,
    /// Between the two ends of a period: `1. bis 22. November` / `1 to 22 November`.
    pub until: &'static str,
    /// After a time of day: `15:00 Uhr` / `15:00`.
    pub clock_suffix: &'static str,
    /// Central European Time and Central European Summer Time.
    pub cet: &'static str,
    pub cest: &'static str,
    /// The default subject, followed by ` – {month year}`.
    pub subject: &'static str,
    /// The introduction, followed by ` {period}.` (`since` ≠ `until`).
    pub intro: &'static str,
    /// The introduction of an issue of one day, followed by ` {date}.`.
    pub intro_day: &'static str,
    /// The hidden preheader: `2 neue Geschichten und 1 kommende Veranstaltung`.
    pub new_story: &'static str,
    pub new_stories: &'static str,
    pub upcoming_event: &'static str,
    pub upcoming_events: &'static str,
    pub and: &'static str,
    /// Section headings (the text part writes them in capitals).
    pub stories_heading: &'static str,
    pub events_heading: &'static str,
    /// When there is nothing to report.
    pub empty_note: &'static str,
    /// `Themen dieser Ausgabe: …`.
    pub issue_topics: &'static str,
    /// `Themen: …` of a story.
    pub topics: &'static str,
    /// The byline: `Von Dr. Jana Vogt`.
    pub by: &'static str,
    /// A story kind without a label in the schema.
    pub story: &'static str,
    pub read_more: &'static str,
    pub register: &'static str,
    /// The link to an event's page (HTML).
    pub event_details: &'static str,
    /// The same in the text part: `Details: {url}`.
    pub details: &'static str,
    /// Where an event takes place.
    pub venue: &'static str,
    pub online: &'static str,
    pub on_site: &'static str,
    pub on_site_and_online: &'static str,
    /// The footer.
    pub why: &'static str,
    pub leave: &'static str,
    pub unsubscribe: &'static str,
    pub website: &'static str,
    pub privacy: &'static str,
    /// The recipient of `sample.eml` when nobody would receive the issue, and its token.
    pub placeholder_recipient: &'static str,
    pub placeholder_token: &'static str,
}

/// German: the plugin's original texts.
pub const DE: Texts = Texts {
    lang: "de",
    months: verbund_plugin::MONTHS_DE,
    weekdays: [
        "Montag",
        "Dienstag",
        "Mittwoch",
        "Donnerstag",
        "Freitag",
        "Samstag",
        "Sonntag",
    ],
    day_suffix: ".",
    until: "bis",
    clock_suffix: " Uhr",
    cet: "MEZ",
    cest: "MESZ",
    subject: "Newsletter",
    intro: "Neues aus dem Cluster vom",
    intro_day: "Neues aus dem Cluster vom",
    new_story: "neue Geschichte",
    new_stories: "neue Geschichten",
    upcoming_event: "kommende Veranstaltung",
    upcoming_events: "kommende Veranstaltungen",
    and: "und",
    stories_heading: "Neue Geschichten aus dem Cluster",
    events_heading: "Kommende Veranstaltungen",
    empty_note: "Für diesen Zeitraum gibt es keine neuen Geschichten und keine anstehenden \
                 Veranstaltungen.",
    issue_topics: "Themen dieser Ausgabe",
    topics: "Themen",
    by: "Von",
    story: "Geschichte",
    read_more: "Weiterlesen",
    register: "Zur Anmeldung",
    event_details: "Details zur Veranstaltung",
    details: "Details",
    venue: "Ort",
    online: "Online",
    on_site: "Vor Ort",
    on_site_and_online: "Vor Ort und online",
    why: "Sie erhalten diesen Newsletter, weil Sie ihn abonniert und Ihre Anmeldung per \
          E-Mail bestätigt haben.",
    leave: "Sie möchten ihn nicht mehr erhalten? Mit einem Klick abmelden:",
    unsubscribe: "Abmelden",
    website: "Website",
    privacy: "Datenschutzerklärung",
    placeholder_recipient: "empfaenger@example.org",
    placeholder_token: "BEISPIEL",
};

/// English: for `en` and every locale without texts of its own.
pub const EN: Texts = Texts {
    lang: "en",
    months: [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    weekdays: [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ],
    day_suffix: "",
    until: "to",
    clock_suffix: "",
    cet: "CET",
    cest: "CEST",
    subject: "Newsletter",
    intro: "What’s new in the cluster from",
    intro_day: "What’s new in the cluster on",
    new_story: "new story",
    new_stories: "new stories",
    upcoming_event: "upcoming event",
    upcoming_events: "upcoming events",
    and: "and",
    stories_heading: "New stories from the cluster",
    events_heading: "Upcoming events",
    empty_note: "There are no new stories and no upcoming events for this period.",
    issue_topics: "Topics in this issue",
    topics: "Topics",
    by: "By",
    story: "Story",
    read_more: "Read more",
    register: "Register",
    event_details: "Event details",
    details: "Details",
    venue: "Venue",
    online: "Online",
    on_site: "On site",
    on_site_and_online: "On site and online",
    why: "You are receiving this newsletter because you subscribed to it and confirmed your \
          subscription by e-mail.",
    leave: "No longer want to receive it? Unsubscribe with one click:",
    unsubscribe: "Unsubscribe",
    website: "Website",
    privacy: "Privacy policy",
    placeholder_recipient: "recipient@example.org",
    placeholder_token: "EXAMPLE",
};

/// The language part of a locale: `de` of `de-AT`.
pub fn language(locale: &str) -> &str {
    locale.split('-').next().unwrap_or(locale)
}

/// The texts for an issue in `locale`: German for `de` and its regional variants
/// (`de-AT`, `de-CH`), English for everything else.
pub fn for_locale(locale: &str) -> &'static Texts {
    match language(locale) {
        "de" => &DE,
        _ => &EN,
    }
}

/// Whether `s` is a locale as Verbund writes them (the server's rule): two lowercase
/// letters (`de`, `en`), optionally a hyphen and two uppercase letters (`de-AT`).
pub fn is_locale(s: &str) -> bool {
    let b = s.as_bytes();
    (b.len() == 2 && b.iter().all(u8::is_ascii_lowercase))
        || (b.len() == 5
            && b[..2].iter().all(u8::is_ascii_lowercase)
            && b[2] == b'-'
            && b[3..].iter().all(u8::is_ascii_uppercase))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_per_locale() {
        assert_eq!(for_locale("de"), &DE);
        assert_eq!(for_locale("de-AT"), &DE);
        assert_eq!(for_locale("en"), &EN);
        assert_eq!(for_locale("en-GB"), &EN);
        // No texts of its own: English.
        assert_eq!(for_locale("fr"), &EN);
        assert_eq!(language("de-AT"), "de");
        assert_eq!(language("en"), "en");
    }

    #[test]
    fn locales() {
        for ok in ["de", "en", "de-AT", "en-GB", "fr"] {
            assert!(is_locale(ok), "{ok}");
        }
        for bad in [
            "", "d", "deu", "DE", "En", "de_AT", "de-at", "de-AUT", "de-", "-AT", "de-AT-x", " de",
            "dé",
        ] {
            assert!(!is_locale(bad), "{bad}");
        }
    }
}
