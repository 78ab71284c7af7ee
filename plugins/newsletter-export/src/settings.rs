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
    fn percent_encoding() {
        assert_eq!(percent_encode("abc-DEF_1.2~"), "abc-DEF_1.2~");
        assert_eq!(percent_encode("ä /?#&="), "%C3%A4%20%2F%3F%23%26%3D");
    }
}
