//! membership-certificate: "Urkunden über die Mitgliedschaft" for the members of a network,
//! one A4 PDF per member, as an export.
//!
//! `verbund plugin export membership-certificate certificates --out urkunden/` writes
//! `urkunde-SLUG.pdf` for every published member (as published: the host's published view) and `uebersicht.txt` (who got one, since
//! when, how many years, which file). Parameters (all optional):
//!
//! - `member_since_before=2015-01-01`: only members who joined before that date (the
//!   members of the first hour);
//! - `slugs=saalebyte-systemhaus,…`: only these members;
//! - `date=2026-12-07`: the date printed on the certificates (default: today);
//! - `place=Halle (Saale)`: the place printed beside it.
//!
//! Settings (`verbund plugin configure membership-certificate --set KEY=VALUE`):
//! `network` (the network's name), `place`, `signatory`, `signatory_role`, `motto`.
//!
//! Needs `read:member` (no personal data: names, cities and dates only).

mod pdf;
pub mod text;

use chrono::NaiveDate;
use verbund_plugin::*;

use pdf::{Face, HEIGHT, Page, WIDTH};

/// What one certificate says.
#[derive(Debug, Clone, PartialEq)]
pub struct Certificate {
    pub member: String,
    pub slug: String,
    pub city: String,
    pub since: NaiveDate,
    pub date: NaiveDate,
    pub place: String,
    pub network: String,
    pub signatory: String,
    pub signatory_role: String,
    pub motto: String,
}

const INK: [f32; 3] = [0.10, 0.13, 0.20];
const ACCENT: [f32; 3] = [0.05, 0.33, 0.55];
const MUTED: [f32; 3] = [0.35, 0.38, 0.45];

impl Certificate {
    /// The certificate as a PDF.
    pub fn pdf(&self) -> Vec<u8> {
        let mut p = Page::default();
        let margin = 36.0;
        // Frame: an outer accent line and a thin inner line.
        p.draw()
            .set_stroke_rgb(ACCENT[0], ACCENT[1], ACCENT[2])
            .set_line_width(3.0)
            .rect(margin, margin, WIDTH - 2.0 * margin, HEIGHT - 2.0 * margin)
            .stroke()
            .set_line_width(0.6)
            .rect(
                margin + 8.0,
                margin + 8.0,
                WIDTH - 2.0 * margin - 16.0,
                HEIGHT - 2.0 * margin - 16.0,
            )
            .stroke();
        emblem(&mut p, WIDTH / 2.0, HEIGHT - 125.0);
        let wide = WIDTH - 2.0 * margin - 60.0;
        p.centered(
            Face::Bold,
            15.0,
            HEIGHT - 195.0,
            &self.network,
            wide,
            ACCENT,
        );
        p.centered(Face::Bold, 44.0, HEIGHT - 285.0, "Urkunde", wide, INK);
        p.centered(
            Face::Regular,
            18.0,
            HEIGHT - 315.0,
            "über die Mitgliedschaft",
            wide,
            INK,
        );
        p.centered(
            Face::Regular,
            13.0,
            HEIGHT - 380.0,
            &format!("Der {} bestätigt, dass", self.network),
            wide,
            INK,
        );
        p.centered(Face::Bold, 26.0, HEIGHT - 430.0, &self.member, wide, INK);
        if !self.city.is_empty() {
            p.centered(
                Face::Regular,
                13.0,
                HEIGHT - 455.0,
                &format!("aus {}", self.city),
                wide,
                MUTED,
            );
        }
        p.centered(
            Face::Regular,
            16.0,
            HEIGHT - 505.0,
            &format!("Mitglied seit {}", text::german_date(self.since)),
            wide,
            INK,
        );
        p.centered(
            Face::Regular,
            13.0,
            HEIGHT - 530.0,
            &text::years_line(self.since, self.date),
            wide,
            MUTED,
        );
        if !self.motto.is_empty() {
            p.centered(
                Face::Regular,
                13.0,
                HEIGHT - 580.0,
                &format!("Unter dem Leitgedanken „{}“", self.motto),
                wide,
                INK,
            );
            p.centered(
                Face::Regular,
                13.0,
                HEIGHT - 598.0,
                "danken wir für Treue und Engagement.",
                wide,
                INK,
            );
        }
        // Place and date left, signature right.
        let base = 150.0;
        let left = margin + 40.0;
        let right = WIDTH - margin - 40.0;
        let line_w = 190.0;
        p.text(
            Face::Regular,
            12.0,
            left,
            base + 8.0,
            &format!("{}, den {}", self.place, text::german_date(self.date)),
            INK,
        );
        p.draw()
            .set_stroke_rgb(INK[0], INK[1], INK[2])
            .set_line_width(0.7)
            .move_to(left, base)
            .line_to(left + line_w, base)
            .stroke()
            .move_to(right - line_w, base)
            .line_to(right, base)
            .stroke();
        p.text(Face::Regular, 9.0, left, base - 14.0, "Ort, Datum", MUTED);
        let who = if self.signatory.is_empty() {
            "Unterschrift".to_string()
        } else {
            self.signatory.clone()
        };
        p.text(Face::Regular, 10.0, right - line_w, base - 14.0, &who, INK);
        if !self.signatory_role.is_empty() {
            p.text(
                Face::Regular,
                9.0,
                right - line_w,
                base - 27.0,
                &self.signatory_role,
                MUTED,
            );
        }
        p.finish(
            &format!("Urkunde über die Mitgliedschaft: {}", self.member),
            &self.network,
        )
    }
}

/// The network's emblem: nodes on a ring joined to a centre (a Verbund).
fn emblem(p: &mut Page, cx: f32, cy: f32) {
    let c = p.draw();
    c.set_stroke_rgb(ACCENT[0], ACCENT[1], ACCENT[2])
        .set_line_width(1.6);
    let r = 30.0;
    let pts: Vec<(f32, f32)> = (0..6)
        .map(|i| {
            let a = std::f32::consts::PI / 3.0 * i as f32 + std::f32::consts::FRAC_PI_2;
            (cx + r * a.cos(), cy + r * a.sin())
        })
        .collect();
    for (i, (x, y)) in pts.iter().enumerate() {
        let (nx, ny) = pts[(i + 1) % pts.len()];
        c.move_to(*x, *y).line_to(nx, ny).stroke();
        c.move_to(cx, cy).line_to(*x, *y).stroke();
    }
    c.set_fill_rgb(ACCENT[0], ACCENT[1], ACCENT[2]);
    for (x, y) in pts.iter().copied().chain([(cx, cy)]) {
        disc(c, x, y, if (x, y) == (cx, cy) { 7.0 } else { 4.5 });
    }
}

/// A filled circle (four Bézier arcs).
fn disc(c: &mut pdf_writer::Content, x: f32, y: f32, r: f32) {
    let k = 0.552_284_8 * r;
    c.move_to(x + r, y)
        .cubic_to(x + r, y + k, x + k, y + r, x, y + r)
        .cubic_to(x - k, y + r, x - r, y + k, x - r, y)
        .cubic_to(x - r, y - k, x - k, y - r, x, y - r)
        .cubic_to(x + k, y - r, x + r, y - k, x + r, y)
        .close_path()
        .fill_nonzero();
}

struct Certificates;

impl Plugin for Certificates {
    fn describe() -> Manifest {
        Manifest::new(
            "membership-certificate",
            env!("CARGO_PKG_VERSION"),
            "Urkunden über die Mitgliedschaft: ein PDF je Mitglied, mit Übersicht.",
        )
        .hook(Hook::Export)
        .grant("member")
        .export(
            "certificates",
            "Eine Urkunde (PDF, A4) je veröffentlichtem Mitglied, dazu uebersicht.txt; Parameter: member_since_before, slugs, date, place.",
        )
    }

    fn export(name: String, params: Vec<(String, String)>) -> Result<Vec<Artifact>, String> {
        if name != "certificates" {
            return Err(format!(
                "no such export: {name}; this plugin offers `certificates`"
            ));
        }
        let today = text::date_of(&now()).ok_or("the host's clock gave no date")?;
        let opts = text::Options::read(&params, today, config)?;
        // The published view, in German: what the website shows of each member (an edit
        // not yet published does not reach a certificate), and a member's translations get
        // none of their own.
        let mut q = query_published("member")
            .locale("de")
            .sort("member_since")
            .limit(100);
        if let Some(before) = opts.before {
            q = q.filter("member_since", "lt", before);
        }
        let members = q.all().map_err(|e| e.message().to_string())?;
        let mut certs = Vec::new();
        for m in &members {
            let slug = m.text("slug").unwrap_or_default();
            if !opts.slugs.is_empty() && !opts.slugs.contains(&slug) {
                continue;
            }
            let Some(since) = m
                .text("member_since")
                .and_then(|d| d.parse::<NaiveDate>().ok())
            else {
                log::warn(format!(
                    "member {} has no valid member_since; no certificate",
                    m.id
                ));
                continue;
            };
            certs.push(Certificate {
                member: m.text("name").unwrap_or_default(),
                slug,
                city: m.text("city").unwrap_or_default(),
                since,
                date: opts.date,
                place: opts.place.clone(),
                network: opts.network.clone(),
                signatory: opts.signatory.clone(),
                signatory_role: opts.signatory_role.clone(),
                motto: opts.motto.clone(),
            });
        }
        if let Some(missing) = opts
            .slugs
            .iter()
            .find(|s| !certs.iter().any(|c| &c.slug == *s))
        {
            return Err(format!("no published member with the slug {missing:?}"));
        }
        certs.sort_by(|a, b| a.since.cmp(&b.since).then(a.member.cmp(&b.member)));
        let mut out = Vec::with_capacity(certs.len() + 1);
        for c in &certs {
            out.push(Artifact::new(
                format!("urkunde-{}.pdf", c.slug),
                "application/pdf",
                c.pdf(),
            ));
        }
        out.push(Artifact::text(
            "uebersicht.txt",
            text::summary(&certs, &opts),
        ));
        Ok(out)
    }
}

export_plugin!(Certificates);

#[cfg(test)]
mod tests {
    use super::*;
    use verbund_plugin::serde_json::json;
    use verbund_plugin::testing::{TestHost, entry};

    fn member(id: &str, locale: &str, state: &str, name: &str, slug: &str, since: &str) -> Entry {
        let mut e = entry(
            "member",
            id,
            json!({"name": name, "slug": slug, "city": "Halle (Saale)", "member_since": since}),
        );
        e.locale = locale.into();
        e.state = state.into();
        e
    }

    /// The export through the SDK's test host: published German members only, a selection
    /// by date, the date from the host's clock, errors in the editor's words.
    #[test]
    fn the_export_makes_one_certificate_per_published_german_member() {
        let host = TestHost::new()
            .with_entry(member(
                "01",
                "de",
                "published",
                "Elbwerk Software AG",
                "elbwerk",
                "2009-11-15",
            ))
            .with_entry(member(
                "02",
                "en",
                "published",
                "Elbwerk Software AG",
                "elbwerk-en",
                "2009-11-15",
            ))
            .with_entry(member(
                "03",
                "de",
                "draft",
                "Entwurf GmbH",
                "entwurf",
                "2010-01-01",
            ))
            .with_entry(member(
                "04",
                "de",
                "published",
                "Börde IT-Beratung e.K.",
                "boerde",
                "2019-02-01",
            ))
            .with_now("2026-12-07T10:00:00Z")
            .with_config("signatory", "Dr. Grit Lehmann")
            .install();
        let files = Certificates::export("certificates".into(), vec![]).unwrap();
        let names: Vec<&str> = files.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "urkunde-elbwerk.pdf",
                "urkunde-boerde.pdf",
                "uebersicht.txt"
            ]
        );
        let summary = String::from_utf8(files[2].bytes.clone()).unwrap();
        assert!(summary.contains("am 7. Dezember 2026"), "{summary}");
        assert!(
            summary.contains("Börde IT-Beratung e.K. | Mitglied seit 1. Februar 2019 | 7 Jahre"),
            "{summary}"
        );

        let early = Certificates::export(
            "certificates".into(),
            vec![("member_since_before".into(), "2012-01-01".into())],
        )
        .unwrap();
        assert_eq!(early.len(), 2, "one certificate and the summary");
        let err = Certificates::export(
            "certificates".into(),
            vec![("slugs".into(), "gibtsnicht".into())],
        )
        .unwrap_err();
        assert!(
            err.contains("no published member with the slug \"gibtsnicht\""),
            "{err}"
        );
        assert!(host.logs().is_empty());
    }
}
