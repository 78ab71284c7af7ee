//! The parameters of the export `issue`: read from the request's key/value pairs and checked,
//! with errors in German that say what to write instead.

use chrono::{Days, NaiveDate};

use crate::dates::parse_ymd;
use crate::texts::is_locale;

/// Events this many days after `until` are included when `events_until` is not given.
pub const EVENTS_DAYS: u64 = 60;

/// The locale of an issue when the `locale` parameter is not given.
pub const DEFAULT_LOCALE: &str = "de";

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
    /// The locale (`de`, `en`, `de-AT`): its stories, events, recipients, labels and
    /// texts.
    pub locale: String,
}

const KNOWN_PARAMS: [&str; 5] = ["since", "until", "topics", "events_until", "locale"];

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

/// Checks `locale`: a locale as Verbund writes them (`de`, `en`, `de-AT`).
fn parse_locale(raw: &str) -> Result<String, String> {
    if is_locale(raw) {
        Ok(raw.to_string())
    } else {
        Err(format!(
            "Parameter „locale“ ist ungültig („{raw}“): erwartet wird eine Sprache wie de, en \
             oder de-AT (zwei Kleinbuchstaben, für eine Region ein Bindestrich und zwei \
             Großbuchstaben). / Parameter \"locale\" is invalid ({raw:?}): expected a locale \
             like de, en or de-AT (two lowercase letters; for a region a hyphen and two \
             uppercase letters)."
        ))
    }
}

/// Checks the parameters; `today` is the default for `until` (the date of the host's
/// `now()`).
pub fn parse_params(params: &[(String, String)], today: NaiveDate) -> Result<Params, String> {
    if let Some((k, _)) = params
        .iter()
        .find(|(k, _)| !KNOWN_PARAMS.contains(&k.as_str()))
    {
        return Err(format!(
            "Unbekannter Parameter „{k}“; erlaubt sind since, until, topics, events_until, \
             locale. / Unknown parameter {k:?}; allowed: since, until, topics, events_until, \
             locale."
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
    let locale = given(params, "locale").map_or(Ok(DEFAULT_LOCALE.to_string()), parse_locale)?;
    Ok(Params {
        since,
        until,
        events_from: since.max(today),
        events_until,
        topics,
        locale,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
                topics: None,
                locale: "de".into(),
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
    fn locale_param() {
        let today = d("2026-11-22");
        let locale = |pairs: &[(&str, &str)]| parse_params(&p(pairs), today).map(|p| p.locale);
        // Not given, empty or null: German.
        assert_eq!(locale(&[("since", "2026-11-01")]).unwrap(), "de");
        assert_eq!(
            locale(&[("since", "2026-11-01"), ("locale", " ")]).unwrap(),
            "de"
        );
        assert_eq!(
            locale(&[("since", "2026-11-01"), ("locale", "null")]).unwrap(),
            "de"
        );
        for ok in ["de", "en", "de-AT", "en-GB", "fr"] {
            assert_eq!(
                locale(&[("since", "2026-11-01"), ("locale", ok)]).unwrap(),
                ok
            );
        }
        assert_eq!(
            locale(&[("since", "2026-11-01"), ("locale", " en ")]).unwrap(),
            "en"
        );
        for bad in [
            "EN",
            "english",
            "de_AT",
            "de-at",
            "e",
            "de-AT-1996",
            "[\"en\"]",
        ] {
            let e = locale(&[("since", "2026-11-01"), ("locale", bad)]).unwrap_err();
            assert!(
                e.contains("Parameter „locale“ ist ungültig")
                    && e.contains("Parameter \"locale\" is invalid")
                    && e.contains(bad.trim())
                    && e.contains("de-AT"),
                "{e}"
            );
        }
    }
}
