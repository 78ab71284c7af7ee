//! The plugin's settings (`verbund plugin configure newsletter-export --set KEY=VALUE`) and
//! the labels it takes from the schema, with the URLs built from them.

use verbund_plugin::Value;

/// The plugin settings (`verbund plugin configure newsletter-export --set KEY=VALUE`).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Base URL of the public website, ending in `/`.
    pub website: String,
    /// Base URL of the API server (unsubscribe links), ending in `/`.
    pub api: String,
    /// The sender, `Name <addr>`.
    pub from: String,
    /// The subject (of every locale's issue); `None`: `Newsletter – {Monat Jahr}` of `until`
    /// in the language.
    pub subject: Option<String>,
    /// Name in the footer.
    pub organisation: String,
    /// Postal address in the footer (the Impressum details a newsletter must carry).
    pub address: Option<String>,
    /// Link to the privacy policy, in the footer.
    pub privacy_url: Option<String>,
    /// Labels of topics and story kinds in the locale, from the story schema.
    pub labels: Labels,
    /// The website's route prefix of the locale: empty for German, `en/` for English
    /// (the example website's `#/en/…` routes).
    pub route_prefix: String,
}

/// Labels of enum values, read from the schema (`x-verbund.labels`), where they are defined
/// once for the server, the website and this plugin.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Labels {
    pub topics: std::collections::BTreeMap<String, String>,
    pub kinds: std::collections::BTreeMap<String, String>,
}

/// The locale whose labels stand in for those the schema lacks in another locale.
pub const FALLBACK_LABELS: &str = "de";

impl Labels {
    /// The labels in `locale` of the story schema's `topics` and `kind`. A value without a
    /// label in `locale` takes that of its language (`de` for `de-AT`), else the German one
    /// ([`FALLBACK_LABELS`]).
    pub fn from_story_schema(schema: &Value, locale: &str) -> Labels {
        let mut chain = vec![locale, crate::texts::language(locale), FALLBACK_LABELS];
        chain.dedup();
        let mut labels = Labels::default();
        for l in chain {
            for (map, field) in [(&mut labels.topics, "topics"), (&mut labels.kinds, "kind")] {
                for (value, label) in verbund_plugin::labels(schema, field, l) {
                    map.entry(value).or_insert(label);
                }
            }
        }
        labels
    }

    /// The label of a topic slug, else the slug.
    pub fn topic<'a>(&'a self, slug: &'a str) -> &'a str {
        self.topics.get(slug).map_or(slug, String::as_str)
    }

    /// The label of a story kind, else „Geschichte“.
    pub fn kind(&self, kind: &str) -> &str {
        self.kind_or(kind, crate::texts::DE.story)
    }

    /// The label of a story kind, else `fallback` (the word for a story).
    pub fn kind_or<'a>(&'a self, kind: &str, fallback: &'a str) -> &'a str {
        self.kinds.get(kind).map_or(fallback, String::as_str)
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
            route_prefix: String::new(),
        }
    }

    /// These settings for an issue in `locale`: links go to the website's pages in it.
    pub fn for_locale(mut self, locale: &str) -> Settings {
        self.route_prefix = if locale == "de" || locale.starts_with("de-") {
            String::new()
        } else {
            format!("{locale}/")
        };
        self
    }

    /// These settings with the labels of topics and story kinds.
    pub fn with_labels(mut self, labels: Labels) -> Settings {
        self.labels = labels;
        self
    }

    /// `{website}#/geschichten/{slug}` (`#/en/geschichten/…` in an English issue).
    pub fn story_url(&self, slug: &str) -> String {
        format!(
            "{}#/{}geschichten/{}",
            self.website,
            self.route_prefix,
            percent_encode(slug)
        )
    }

    /// `{website}#/veranstaltungen/{slug}`.
    pub fn event_url(&self, slug: &str) -> String {
        format!(
            "{}#/{}veranstaltungen/{}",
            self.website,
            self.route_prefix,
            percent_encode(slug)
        )
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn labels_in_a_locale_fall_back_to_german() {
        let schema = verbund_plugin::serde_json::json!({"properties": {
            "kind": {"x-verbund": {"labels": {
                "de": {"news": "Meldung", "interview": "Interview"},
                "en": {"news": "News"}
            }}},
            "topics": {"items": {"x-verbund": {"labels": {
                "de": {"cloud": "Cloud", "iot": "Internet der Dinge (IoT)", "datenschutz": "Datenschutz"},
                "en": {"iot": "Internet of Things (IoT)", "datenschutz": "Data protection"},
                "en-GB": {"datenschutz": "Data protection (UK)"}
            }}}}
        }});
        let de = Labels::from_story_schema(&schema, "de");
        assert_eq!(de.topic("iot"), "Internet der Dinge (IoT)");
        assert_eq!(de.kind("news"), "Meldung");
        let en = Labels::from_story_schema(&schema, "en");
        assert_eq!(en.topic("iot"), "Internet of Things (IoT)");
        assert_eq!(en.kind("news"), "News");
        // No English label: the German one.
        assert_eq!(en.topic("cloud"), "Cloud");
        assert_eq!(en.kind("interview"), "Interview");
        // A region takes its own labels, then its language's, then the German ones.
        let gb = Labels::from_story_schema(&schema, "en-GB");
        assert_eq!(gb.topic("datenschutz"), "Data protection (UK)");
        assert_eq!(gb.topic("iot"), "Internet of Things (IoT)");
        assert_eq!(gb.topic("cloud"), "Cloud");
        assert_eq!(
            Labels::from_story_schema(&schema, "de-AT"),
            Labels::from_story_schema(&schema, "de")
        );
        // A locale the schema does not know: German.
        assert_eq!(
            Labels::from_story_schema(&schema, "fr"),
            Labels::from_story_schema(&schema, "de")
        );
        // No label at all: the slug, or the word for a story.
        assert_eq!(en.topic("neu"), "neu");
        assert_eq!(en.kind_or("podcast", "Story"), "Story");
    }

    #[test]
    fn percent_encoding() {
        assert_eq!(percent_encode("abc-DEF_1.2~"), "abc-DEF_1.2~");
        assert_eq!(percent_encode("ä /?#&="), "%C3%A4%20%2F%3F%23%26%3D");
    }
}
