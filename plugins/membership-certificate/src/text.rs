//! The words on a certificate: German dates, the years of membership, the export's options and
//! the summary. Pure functions, tested natively (`cargo test -p membership-certificate`).

use chrono::{Datelike, NaiveDate};

use crate::Certificate;

use verbund_plugin::MONTHS_DE as MONTHS;

/// `1. März 2010`.
pub fn german_date(d: NaiveDate) -> String {
    format!("{}. {} {}", d.day(), MONTHS[d.month0() as usize], d.year())
}

/// Full years from `since` to `on`.
pub fn full_years(since: NaiveDate, on: NaiveDate) -> i32 {
    let mut y = on.year() - since.year();
    if (on.month(), on.day()) < (since.month(), since.day()) {
        y -= 1;
    }
    y.max(0)
}

/// The line under the date: how long the membership has lasted.
pub fn years_line(since: NaiveDate, on: NaiveDate) -> String {
    match full_years(since, on) {
        0 => "– neu in unserem Netzwerk –".to_string(),
        1 => "– seit einem Jahr Teil unseres Netzwerks –".to_string(),
        n => format!("– seit {n} Jahren Teil unseres Netzwerks –"),
    }
}

/// The date part of an RFC 3339 instant.
pub fn date_of(rfc3339: &str) -> Option<NaiveDate> {
    rfc3339.get(..10)?.parse().ok()
}

/// The export's parameters and the plugin's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub before: Option<NaiveDate>,
    pub slugs: Vec<String>,
    pub date: NaiveDate,
    pub place: String,
    pub network: String,
    pub signatory: String,
    pub signatory_role: String,
    pub motto: String,
}

impl Options {
    /// Reads the parameters (`member_since_before`, `slugs`, `date`, `place`) and settings
    /// (`network`, `place`, `signatory`, `signatory_role`, `motto`); an unknown parameter or a
    /// malformed date is an error that says what is expected.
    pub fn read(
        params: &[(String, String)],
        today: NaiveDate,
        setting: impl Fn(&str) -> Option<String>,
    ) -> Result<Options, String> {
        let date = |k: &str, v: &str| {
            v.parse::<NaiveDate>()
                .map_err(|_| format!("{k} must be a date like 2015-01-01, not {v:?}"))
        };
        let mut o = Options {
            before: None,
            slugs: Vec::new(),
            date: today,
            place: setting("place").unwrap_or_else(|| "Halle (Saale)".into()),
            network: setting("network").unwrap_or_else(|| "Cluster IT Mitteldeutschland".into()),
            signatory: setting("signatory").unwrap_or_default(),
            signatory_role: setting("signatory_role").unwrap_or_else(|| "Vorstand".into()),
            motto: setting("motto").unwrap_or_else(|| "Gemeinsam digital stärker".into()),
        };
        for (k, v) in params {
            match k.as_str() {
                "member_since_before" => o.before = Some(date(k, v)?),
                "date" => o.date = date(k, v)?,
                "place" => o.place = v.trim().to_string(),
                "slugs" => {
                    o.slugs = v
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect()
                }
                other => {
                    return Err(format!(
                        "unknown parameter {other:?}; use member_since_before, slugs, date or place"
                    ));
                }
            }
        }
        Ok(o)
    }
}

/// `uebersicht.txt`: who got a certificate, since when, for how many years, in which file.
pub fn summary(certs: &[Certificate], o: &Options) -> String {
    let mut s = format!(
        "Urkunden über die Mitgliedschaft – {}\nAusgestellt in {} am {}\n",
        o.network,
        o.place,
        german_date(o.date)
    );
    if let Some(b) = o.before {
        s.push_str(&format!(
            "Auswahl: Mitglied seit vor dem {}\n",
            german_date(b)
        ));
    }
    s.push_str(&format!("{} Urkunden\n\n", certs.len()));
    for c in certs {
        s.push_str(&format!(
            "{} | Mitglied seit {} | {} | urkunde-{}.pdf\n",
            c.member,
            german_date(c.since),
            match full_years(c.since, c.date) {
                1 => "1 Jahr".to_string(),
                n => format!("{n} Jahre"),
            },
            c.slug
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn dates_are_written_the_german_way() {
        assert_eq!(german_date(d("2010-03-01")), "1. März 2010");
        assert_eq!(german_date(d("2026-12-24")), "24. Dezember 2026");
    }

    #[test]
    fn years_count_full_years_only() {
        assert_eq!(full_years(d("2010-03-01"), d("2026-02-28")), 15);
        assert_eq!(full_years(d("2010-03-01"), d("2026-03-01")), 16);
        assert_eq!(
            years_line(d("2025-12-08"), d("2026-12-07")),
            "– neu in unserem Netzwerk –"
        );
        assert_eq!(
            years_line(d("2025-12-07"), d("2026-12-07")),
            "– seit einem Jahr Teil unseres Netzwerks –"
        );
    }

    #[test]
    fn options_say_what_is_wrong() {
        let p = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        let none = |_: &str| None;
        let o = Options::read(
            &p("member_since_before", "2015-01-01"),
            d("2026-12-07"),
            none,
        )
        .unwrap();
        assert_eq!(o.before, Some(d("2015-01-01")));
        assert_eq!(o.network, "Cluster IT Mitteldeutschland");
        let e = Options::read(
            &p("member_since_before", "01.01.2015"),
            d("2026-12-07"),
            none,
        )
        .unwrap_err();
        assert!(e.contains("like 2015-01-01"), "{e}");
        let e = Options::read(&p("seit", "x"), d("2026-12-07"), none).unwrap_err();
        assert!(e.contains("unknown parameter \"seit\""), "{e}");
        let o = Options::read(&p("slugs", "a, b,"), d("2026-12-07"), |k| {
            (k == "network").then(|| "Netz".into())
        })
        .unwrap();
        assert_eq!(o.slugs, vec!["a", "b"]);
        assert_eq!(o.network, "Netz");
    }

    #[test]
    fn a_certificate_is_a_pdf_with_its_fonts_subsetted() {
        let c = Certificate {
            member: "Müller & Söhne Straßenbau GmbH".into(),
            slug: "mueller".into(),
            city: "Jena".into(),
            since: d("2010-03-01"),
            date: d("2026-12-07"),
            place: "Halle (Saale)".into(),
            network: "Cluster IT Mitteldeutschland".into(),
            signatory: "Dr. Grit Lehmann".into(),
            signatory_role: "Vorstand".into(),
            motto: "Gemeinsam digital stärker".into(),
        };
        let pdf = c.pdf();
        assert!(pdf.starts_with(b"%PDF-"));
        // Two subsetted faces of ~380 KB each: the document stays small.
        assert!(pdf.len() < 60_000, "{} bytes", pdf.len());
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.contains("/FontFile2") && text.contains("/ToUnicode"));
    }
}
